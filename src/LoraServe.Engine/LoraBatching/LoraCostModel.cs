namespace LoraServe.Engine.LoraBatching;

/// <summary>
/// Step-time estimates for merged and unmerged execution and the merge/unmerge switch cost,
/// measured on this machine (DESIGN §5.2: the paper's constants came from another kernel on
/// another machine). <see cref="LoraCostCalibration"/> seeds it at start-up; every real step and
/// switch then refines it with an exponential moving average.
/// <list type="bullet">
/// <item>Merged step (and any step without adapter rows) = base(t), t = tokens in the step: a curve
/// kept at power-of-two token counts, linear in between. A merged step is the base model's step —
/// the delta lives in the weights.</item>
/// <item>Unmerged step = base(t) + s·(c_a·n + c_b·Σ_distinct bytes + c_r·Σ_rows tokens·bytes): n distinct
/// adapters; reading each adapter's A and B once (c_b) and multiplying each token row through its
/// adapter (c_r, ∝ rank·(in+out)); c_a is a fixed per-segment cost. s starts at 1 and tracks the
/// observed/predicted ratio of the LoRA part.</item>
/// <item>Switch (a merge that computes W + s·B·A) = s_w·(w_0 + w_e·elements + w_m·Σ out·in·r): writing
/// every targeted element and forming ΔW = B·A. Unmerging swaps the base matrices back and costs
/// nothing; re-merging the adapter merged last costs nothing either (the policy knows which).</item>
/// </list>
/// </summary>
public sealed class LoraCostModel
{
    private const double Smoothing = 0.2;
    private static readonly int[] Knots = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192];
    private readonly double[] _base = new double[Knots.Length];
    private readonly LoraTerms _lora;
    private readonly SwitchTerms _switch;
    private double _loraScale = 1, _switchScale = 1;

    /// <summary>The LoRA part of an unmerged step, seconds per distinct adapter, per distinct adapter byte, per token-row byte.</summary>
    public readonly record struct LoraTerms(double PerAdapter, double PerAdapterByte, double PerRowByte);

    /// <summary>One merge: fixed seconds, per targeted weight element, per multiply-add of ΔW = B·A.</summary>
    public readonly record struct SwitchTerms(double Fixed, double PerElement, double PerMac);

    /// <param name="baseSteps">measured (tokens, seconds) of steps without LoRA work; at least one</param>
    /// <param name="lora">the LoRA part of an unmerged step</param>
    /// <param name="switchCost">one merge that computes W + s·B·A</param>
    /// <param name="referenceRatio">ρ = merged ÷ unmerged step for a typical batch (θ_L's starting point)</param>
    public LoraCostModel(IReadOnlyList<(int Tokens, double Seconds)> baseSteps, LoraTerms lora, SwitchTerms switchCost, double referenceRatio)
    {
        ArgumentNullException.ThrowIfNull(baseSteps);
        if (baseSteps.Count == 0 || baseSteps.Any(p => p.Tokens < 1 || !(p.Seconds > 0)))
            throw new ArgumentException("the cost model needs at least one base step with ≥ 1 token and a positive time");
        if (!(lora.PerAdapter >= 0 && lora.PerAdapterByte >= 0 && lora.PerRowByte >= 0)) throw new ArgumentException($"LoRA cost terms must be ≥ 0: {lora}");
        if (!(switchCost.Fixed >= 0 && switchCost.PerElement >= 0 && switchCost.PerMac >= 0)) throw new ArgumentException($"switch cost terms must be ≥ 0: {switchCost}");
        if (!(referenceRatio > 0)) throw new ArgumentException($"the reference ratio must be positive, got {referenceRatio}");
        var points = baseSteps.OrderBy(p => p.Tokens).ToArray();
        for (int k = 0; k < Knots.Length; k++) _base[k] = Interpolate(points, Knots[k]);
        _lora = lora;
        _switch = switchCost;
        ReferenceRatio = referenceRatio;
    }

    /// <summary>
    /// A flat model for scripted tests and quick use: every step without adapters takes
    /// <paramref name="mergedStepSeconds"/>, each distinct adapter adds
    /// (<paramref name="unmergedStepSeconds"/> − merged) ÷ <paramref name="calibrationAdapters"/>, a switch takes <paramref name="switchSeconds"/>.
    /// </summary>
    public LoraCostModel(double mergedStepSeconds, double unmergedStepSeconds, int calibrationAdapters, double switchSeconds)
        : this([(1, mergedStepSeconds)],
               new LoraTerms(Math.Max(0, unmergedStepSeconds - mergedStepSeconds) / Math.Max(1, calibrationAdapters), 0, 0),
               new SwitchTerms(switchSeconds, 0, 0),
               unmergedStepSeconds > 0 ? mergedStepSeconds / unmergedStepSeconds : 1)
    {
        if (calibrationAdapters < 1) throw new ArgumentException("the calibration needs ≥ 1 adapter");
    }

    /// <summary>ρ = merged ÷ unmerged step for the calibration batch.</summary>
    public double ReferenceRatio { get; }

    public LoraTerms Lora => _lora;

    public SwitchTerms Switch => _switch;

    /// <summary>Observed ÷ calibrated LoRA part of unmerged steps (EMA).</summary>
    public double LoraScale => _loraScale;

    /// <summary>Observed ÷ calibrated switch time (EMA).</summary>
    public double SwitchScale => _switchScale;

    /// <summary>A step of <paramref name="tokens"/> tokens with no LoRA work (= a merged step).</summary>
    public double BaseSeconds(int tokens)
    {
        var (k, w) = Bracket(tokens);
        return Math.Max(_base[0] * 1e-3, _base[k - 1] + w * (_base[k] - _base[k - 1]));
    }

    /// <summary>The knots around <paramref name="tokens"/>: k with Knots[k−1] ≤ t ≤ Knots[k], and t's weight on knot k (clamped to [0, 1]).</summary>
    private static (int K, double W) Bracket(int tokens)
    {
        int k = 1;
        while (k < Knots.Length - 1 && Knots[k] < tokens) k++;
        return (k, Math.Clamp((double)(tokens - Knots[k - 1]) / (Knots[k] - Knots[k - 1]), 0, 1));
    }

    /// <summary>Estimated seconds of a step running <paramref name="selected"/> of <paramref name="candidates"/> in <paramref name="mode"/>.</summary>
    public double StepSeconds(LoraExecutionMode mode, IReadOnlyList<LoraCandidate> candidates, IReadOnlyList<int> selected)
    {
        int tokens = 0;
        foreach (int i in selected) tokens += candidates[i].Tokens;
        double t = BaseSeconds(Math.Max(1, tokens));
        return mode == LoraExecutionMode.Merged ? t : t + _loraScale * LoraPart(candidates, selected);
    }

    /// <summary>Estimated seconds of a merge of an adapter with <paramref name="profile"/> that computes its matrices.</summary>
    public double SwitchSeconds(AdapterProfile profile) =>
        _switchScale * (_switch.Fixed + _switch.PerElement * profile.MergeElements + _switch.PerMac * profile.MergeMacs);

    /// <summary>A step ran: refine base(t) (steps without LoRA work) or the LoRA scale (unmerged steps with adapters).</summary>
    public void ObserveStep(LoraExecutionMode mode, IReadOnlyList<LoraCandidate> candidates, IReadOnlyList<int> selected, double seconds)
    {
        if (!(seconds > 0) || selected.Count == 0) return;
        int tokens = 0;
        foreach (int i in selected) tokens += candidates[i].Tokens;
        tokens = Math.Max(1, tokens);
        double lora = mode == LoraExecutionMode.Merged ? 0 : LoraPart(candidates, selected);
        if (lora <= 0)
        {
            // Gradient step of the linear interpolation between the two knots around t.
            double error = seconds - BaseSeconds(tokens);
            var (k, w) = Bracket(tokens);
            _base[k - 1] += Smoothing * (1 - w) * error;
            _base[k] += Smoothing * w * error;
            return;
        }
        double implied = Math.Clamp((seconds - BaseSeconds(tokens)) / lora, 0, 100);
        _loraScale += Smoothing * (implied - _loraScale);
    }

    /// <summary>A merge of an adapter with <paramref name="profile"/> took <paramref name="seconds"/>.</summary>
    public void ObserveSwitch(AdapterProfile profile, double seconds)
    {
        double predicted = _switch.Fixed + _switch.PerElement * profile.MergeElements + _switch.PerMac * profile.MergeMacs;
        if (!(seconds >= 0) || !(predicted > 0)) return;
        _switchScale += Smoothing * (Math.Clamp(seconds / predicted, 0, 100) - _switchScale);
    }

    private double LoraPart(IReadOnlyList<LoraCandidate> candidates, IReadOnlyList<int> selected)
    {
        double rowBytes = 0, distinctBytes = 0;
        int distinct = 0;
        for (int s = 0; s < selected.Count; s++)
        {
            var c = candidates[selected[s]];
            if (c.Adapter is null) continue;
            rowBytes += (double)c.Tokens * c.Profile.Bytes;
            bool seen = false;
            for (int p = 0; p < s && !seen; p++) seen = candidates[selected[p]].Adapter == c.Adapter;
            if (seen) continue;
            distinct++;
            distinctBytes += c.Profile.Bytes;
        }
        return _lora.PerAdapter * distinct + _lora.PerAdapterByte * distinctBytes + _lora.PerRowByte * rowBytes;
    }

    private static double Interpolate((int Tokens, double Seconds)[] points, int tokens)
    {
        if (points.Length == 1 || tokens <= points[0].Tokens) return points[0].Seconds;
        int i = 1;
        while (i < points.Length - 1 && points[i].Tokens < tokens) i++;
        var (t0, s0) = points[i - 1];
        var (t1, s1) = points[i];
        if (t1 == t0) return s1;
        // Beyond the last point: extend the last segment's slope (steps grow with tokens, never shrink).
        double slope = Math.Max(0, (s1 - s0) / (t1 - t0));
        return tokens >= t1 ? s1 + slope * (tokens - t1) : s0 + (s1 - s0) * (tokens - t0) / (t1 - t0);
    }
}
