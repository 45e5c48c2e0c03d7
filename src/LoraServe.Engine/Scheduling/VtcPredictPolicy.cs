using LoraServe.Engine.Requests;

namespace LoraServe.Engine.Scheduling;

/// <summary>
/// VTC with output-length prediction (paper §4.4, Alg. 3): at admission charge input plus the
/// predicted output, w_p·n_p + w_q·pred; during decode charge only tokens beyond the prediction;
/// when the request ends, refund what was charged for tokens never produced — so each finished
/// request costs exactly w_p·input + w_q·output, as in linear VTC, only billed earlier.
/// The predictor is the artifact's per-tenant EWMA (vtc.md §3.3): no history → 0; first
/// completion → its length; then pred ← (4·pred + actual)/5.
/// </summary>
public sealed class VtcPredictPolicy(FairnessOptions options) : VtcPolicy(options, FairnessPolicies.VtcPredict)
{
    private readonly Dictionary<string, double> _prediction = new(StringComparer.Ordinal);

    /// <summary>The output length the next admission of <paramref name="tenant"/> will be charged for.</summary>
    public double PredictedOutput(string tenant) => _prediction.GetValueOrDefault(tenant);

    protected override double ChargeAtAdmission(Sequence sequence)
    {
        double pred = Math.Min(PredictedOutput(sequence.Tenant), sequence.MaxOutputTokens);
        sequence.ChargedOutput = pred;
        return InputWeight * sequence.PromptLength + OutputWeight * pred;
    }

    protected override double ChargeForToken(Sequence sequence)
    {
        double extra = Math.Max(0, sequence.OutputCount - sequence.ChargedOutput);
        sequence.ChargedOutput += extra;
        return OutputWeight * extra;
    }

    protected override double SettleAtFinish(Sequence sequence)
    {
        if (!sequence.InputCharged) return 0;
        int actual = sequence.OutputCount;
        double refund = sequence.ChargedOutput - actual;
        sequence.ChargedOutput = actual;
        // Cancelled requests say little about the tenant's typical length; learn only from natural endings.
        if (sequence.Finish is FinishReason.EndOfSequence or FinishReason.StopString or FinishReason.Length)
            _prediction[sequence.Tenant] = _prediction.TryGetValue(sequence.Tenant, out double p) ? (4 * p + actual) / 5 : actual;
        return -OutputWeight * refund;
    }
}
