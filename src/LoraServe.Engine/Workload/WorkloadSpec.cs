using System.Text.Json;

namespace LoraServe.Engine.Workload;

/// <summary>A synthetic multi-tenant workload (bench --workload FILE, JSON with these property names in camelCase).</summary>
public sealed record WorkloadSpec
{
    /// <summary>Seconds of arrivals.</summary>
    public double Duration { get; init; } = 60;

    public int Seed { get; init; } = 42;

    public required IReadOnlyList<TenantSpec> Tenants { get; init; }

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        // Latencies of requests that never got a token are NaN.
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static WorkloadSpec Load(string path) =>
        JsonSerializer.Deserialize<WorkloadSpec>(File.ReadAllText(path), Json) ?? throw new FormatException($"{path}: empty workload");

    public void Validate()
    {
        if (!(Duration > 0)) throw new ArgumentException($"workload duration must be > 0, got {Duration}");
        if (Tenants.Count == 0) throw new ArgumentException("the workload has no tenants");
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in Tenants)
        {
            t.Validate();
            if (!names.Add(t.Name)) throw new ArgumentException($"tenant '{t.Name}' appears twice");
        }
    }
}
