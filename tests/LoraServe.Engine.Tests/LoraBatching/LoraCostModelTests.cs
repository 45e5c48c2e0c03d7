using LoraServe.Engine.LoraBatching;
using LoraServe.Lora.Adapters;
using LoraServe.Models.Llama;

namespace LoraServe.Engine.Tests.LoraBatching;

/// <summary>The cost model's arithmetic against hand-derived values (DESIGN §5.2).</summary>
public class LoraCostModelTests
{
    // base(t): 10 ms at 1 token, 24 ms at 8 → 2 ms per token, extended past 8 with the same slope.
    private static LoraCostModel Model() => new(
        [(8, 0.024), (1, 0.010)],
        new LoraCostModel.LoraTerms(PerAdapter: 0.001, PerAdapterByte: 1e-9, PerRowByte: 1e-10),
        new LoraCostModel.SwitchTerms(Fixed: 0.001, PerElement: 1e-9, PerMac: 1e-10),
        referenceRatio: 0.8);

    private static readonly AdapterProfile A = new(Bytes: 1_000_000, MergeElements: 0, MergeMacs: 0);
    private static readonly AdapterProfile B = new(Bytes: 2_000_000, MergeElements: 0, MergeMacs: 0);

    // Three decode rows of a, a 4-token prefill chunk of b, one base row: 8 tokens.
    private static readonly LoraCandidate[] Mixed = [new("a", 1, A), new("b", 4, B), new("a", 1, A), new(null, 1), new("a", 1, A)];

    [Theory]
    [InlineData(1, 0.010)]
    [InlineData(4, 0.016)]
    [InlineData(8, 0.024)]
    [InlineData(12, 0.032)]
    [InlineData(16, 0.040)]
    [InlineData(32, 0.072)]
    public void Base_step_interpolates_between_measured_points_and_extends_the_last_slope(int tokens, double seconds) =>
        Assert.Equal(seconds, Model().BaseSeconds(tokens), 12);

    [Fact]
    public void Unmerged_step_adds_per_adapter_per_adapter_byte_and_per_row_byte_terms()
    {
        // base(8) = 24 ms; 2 distinct × 1 ms; (1 + 2) MB × 1 ns; (3·1 + 4·2) MB × 0.1 ns = 1.1 ms.
        double expected = 0.024 + 0.002 + 0.003 + 0.0011;
        Assert.Equal(expected, Model().StepSeconds(LoraExecutionMode.Unmerged, Mixed, [0, 1, 2, 3, 4]), 12);
        // Merged on a: only a's three rows, no LoRA term: base(3) = 14 ms.
        Assert.Equal(0.014, Model().StepSeconds(LoraExecutionMode.Merged, Mixed, [0, 2, 4]), 12);
    }

    [Fact]
    public void Observed_steps_refine_the_base_curve_and_the_lora_scale()
    {
        var costs = Model();
        double lora = 0.002 + 0.003 + 0.0011;
        for (int i = 0; i < 200; i++) costs.ObserveStep(LoraExecutionMode.Unmerged, Mixed, [0, 1, 2, 3, 4], 0.024 + 2 * lora);
        Assert.Equal(2, costs.LoraScale, 6);
        Assert.Equal(0.024 + 2 * lora, costs.StepSeconds(LoraExecutionMode.Unmerged, Mixed, [0, 1, 2, 3, 4]), 6);

        // Base-only steps of 8 tokens at 30 ms move the knot at 8 (and nothing below 4).
        LoraCandidate[] baseRows = [.. Enumerable.Repeat(new LoraCandidate(null, 1), 8)];
        for (int i = 0; i < 200; i++) costs.ObserveStep(LoraExecutionMode.Unmerged, baseRows, [0, 1, 2, 3, 4, 5, 6, 7], 0.030);
        Assert.Equal(0.030, costs.BaseSeconds(8), 6);
        Assert.Equal(0.016, costs.BaseSeconds(4), 12);
    }

    [Fact]
    public void Switch_cost_is_fixed_plus_per_element_plus_per_mac_and_refines_from_observed_switches()
    {
        var costs = Model();
        var p = new AdapterProfile(0, MergeElements: 1_000_000, MergeMacs: 8_000_000);
        Assert.Equal(0.001 + 0.001 + 0.0008, costs.SwitchSeconds(p), 12);
        for (int i = 0; i < 200; i++) costs.ObserveSwitch(p, 0.0056);
        Assert.Equal(0.0056, costs.SwitchSeconds(p), 6);
    }

    [Fact]
    public void The_flat_model_charges_each_distinct_adapter_an_equal_share()
    {
        var costs = new LoraCostModel(0.010, 0.040, 4, 0.005);
        Assert.Equal(0.010, costs.BaseSeconds(64), 12);
        Assert.Equal(0.0175, costs.StepSeconds(LoraExecutionMode.Unmerged, Mixed, [0, 2]), 12);
        Assert.Equal(0.025, costs.StepSeconds(LoraExecutionMode.Unmerged, Mixed, [0, 1, 3]), 12);
        Assert.Equal(0.25, costs.ReferenceRatio, 12);
        Assert.Equal(0.005, costs.SwitchSeconds(default), 12);
    }

    [Fact]
    public void Adapter_profile_counts_bytes_elements_and_rank_weighted_macs()
    {
        // q: (8 out, 8 in) rank 2; v: (4 out, 8 in) rank 3.
        var adapter = new LoraAdapter("p", 1,
        [
            new LoraModule(0, LinearKind.Q, new float[2 * 8], new float[8 * 2], 2, 8, 8, 1f),
            new LoraModule(0, LinearKind.V, new float[3 * 8], new float[4 * 3], 3, 8, 4, 1f),
        ]);
        var p = AdapterProfile.Of(adapter);
        Assert.Equal((16 + 16 + 24 + 12) * 4, p.Bytes);
        Assert.Equal(64 + 32, p.MergeElements);
        Assert.Equal(64 * 2 + 32 * 3, p.MergeMacs);
    }

    [Fact]
    public void Adapter_keys_tell_apart_two_instances_that_share_a_name()
    {
        var keys = new AdapterKeys();
        var first = Support.TestModels.RandomAdapter("x", 2, 1);
        var second = Support.TestModels.RandomAdapter("x", 2, 2);
        Assert.Equal("x", keys.KeyOf(first));
        Assert.Equal("x#2", keys.KeyOf(second));
        Assert.Equal("x", keys.Candidate(first, 3).Adapter);
        Assert.Equal(3, keys.Candidate(first, 3).Tokens);
        Assert.Null(keys.Candidate(null, 1).Adapter);
    }
}
