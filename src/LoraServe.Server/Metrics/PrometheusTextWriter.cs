using System.Globalization;
using System.Text;

namespace LoraServe.Server.Metrics;

/// <summary>
/// Prometheus text exposition format 0.0.4: one HELP and TYPE line per family, then its samples.
/// Label values are escaped as the format requires (backslash, double quote, newline).
/// </summary>
internal sealed class PrometheusTextWriter
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly StringBuilder _out = new();

    public void Family(string name, string type, string help)
    {
        _out.Append("# HELP ").Append(name).Append(' ').Append(help.Replace("\\", "\\\\").Replace("\n", "\\n")).Append('\n');
        _out.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
    }

    public void Sample(string name, double value, params (string Name, string Value)[] labels)
    {
        _out.Append(name);
        if (labels.Length > 0)
        {
            _out.Append('{');
            for (int i = 0; i < labels.Length; i++)
            {
                if (i > 0) _out.Append(',');
                _out.Append(labels[i].Name).Append("=\"").Append(Escape(labels[i].Value)).Append('"');
            }
            _out.Append('}');
        }
        _out.Append(' ').Append(Format(value)).Append('\n');
    }

    public void Histogram(string name, string help, Histogram histogram, params (string Name, string Value)[] labels)
    {
        Family(name, "histogram", help);
        var (cumulative, sum, count) = histogram.Snapshot();
        for (int i = 0; i < cumulative.Length; i++)
            Sample(name + "_bucket", cumulative[i], [.. labels, ("le", Format(histogram.UpperBounds[i]))]);
        Sample(name + "_bucket", count, [.. labels, ("le", "+Inf")]);
        Sample(name + "_sum", sum, labels);
        Sample(name + "_count", count, labels);
    }

    public override string ToString() => _out.ToString();

    private static string Escape(string v) => v.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    private static string Format(double v) => double.IsPositiveInfinity(v) ? "+Inf" : double.IsNegativeInfinity(v) ? "-Inf" : double.IsNaN(v) ? "NaN" : v.ToString("R", CultureInfo.InvariantCulture);
}
