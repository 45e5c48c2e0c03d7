namespace LoraServe.Engine.Workload;

/// <summary>Inter-arrival times of one tenant's requests.</summary>
public enum ArrivalKind
{
    /// <summary>Exponential gaps (CV 1).</summary>
    Poisson,

    /// <summary>Gamma gaps with a chosen coefficient of variation (CV &gt; 1 bursty, &lt; 1 regular).</summary>
    Gamma,

    /// <summary>Evenly spaced at 1/rate after a random phase (the VTC artifact's "uniform" traces).</summary>
    Uniform,
}

/// <summary>Draws inter-arrival gaps for a rate and an <see cref="ArrivalKind"/>.</summary>
public static class ArrivalProcess
{
    public static double NextGap(ArrivalKind kind, double rate, double cv, Random rng) => kind switch
    {
        ArrivalKind.Poisson => -Math.Log(1 - rng.NextDouble()) / rate,
        // Gamma with mean 1/rate and CV cv: shape k = 1/cv², scale θ = 1/(rate·k).
        ArrivalKind.Gamma => Gamma(1 / (cv * cv), rng) * cv * cv / rate,
        ArrivalKind.Uniform => 1 / rate,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>Gamma(shape, 1) by Marsaglia and Tsang (2000); shape &lt; 1 via the U^(1/shape) boost.</summary>
    public static double Gamma(double shape, Random rng)
    {
        if (shape < 1) return Gamma(shape + 1, rng) * Math.Pow(1 - rng.NextDouble(), 1 / shape);
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do
            {
                x = Normal(rng);
                v = 1 + c * x;
            } while (v <= 0);
            v = v * v * v;
            double u = 1 - rng.NextDouble();
            if (u < 1 - 0.0331 * x * x * x * x || Math.Log(u) < 0.5 * x * x + d * (1 - v + Math.Log(v))) return d * v;
        }
    }

    private static double Normal(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
