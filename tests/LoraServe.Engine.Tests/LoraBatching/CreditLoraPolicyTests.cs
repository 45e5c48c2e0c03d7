using LoraServe.Engine.LoraBatching;

namespace LoraServe.Engine.Tests.LoraBatching;

public class CreditLoraPolicyTests
{
    /// <summary>Merged steps 10 ms, each distinct adapter unmerged +7.5 ms (40 ms at 4), switch 5 ms: merging clearly pays.</summary>
    private static LoraCostModel MergingPays() => new(0.010, 0.040, 4, 0.005);

    private static LoraCandidate[] Queue(params string?[] adapters) => adapters.Select(a => new LoraCandidate(a)).ToArray();

    [Fact]
    public void Enters_merged_mode_when_one_adapter_has_theta_R_times_F_candidates()
    {
        var policy = new CreditLoraPolicy(MergingPays());
        // F = the first 4 = [cold, hot, hot, hot]; hot has 5 ≥ θ_R(1.0)·4 candidates.
        var plan = policy.Plan(Queue("cold", "hot", "hot", "hot", "hot", "hot"), maxBatch: 4);
        Assert.Equal(LoraExecutionMode.Merged, plan.Mode);
        Assert.Equal("hot", plan.MergedAdapter);
        Assert.Equal([1, 2, 3, 4], plan.Selected);
    }

    [Fact]
    public void Entering_merged_mode_needs_the_merge_to_pay_back_within_the_remaining_work()
    {
        // Merged 10 ms; unmerged +7.5 ms per distinct adapter; a merge 50 ms. F = four hot rows:
        // unmerged 17.5 ms, merged 10 ms — 7.5 ms saved per step; twice the merge (100 ms) after 13⅓ steps.
        var costs = new LoraCostModel(0.010, 0.040, 4, 0.050);
        LoraCandidate[] Hot(int remaining) => [.. Enumerable.Repeat(new LoraCandidate("hot", 1, default, remaining), 4)];
        Assert.Equal(LoraExecutionMode.Unmerged, new CreditLoraPolicy(costs).Plan(Hot(13), 4).Mode);
        Assert.Equal(LoraExecutionMode.Merged, new CreditLoraPolicy(costs).Plan(Hot(14), 4).Mode);
    }

    [Fact]
    public void Stays_unmerged_below_theta_R_and_runs_F()
    {
        var policy = new CreditLoraPolicy(MergingPays());
        var plan = policy.Plan(Queue("a", "hot", "b", "hot", "hot", "c"), maxBatch: 4);
        Assert.Equal(LoraExecutionMode.Unmerged, plan.Mode);
        Assert.Equal([0, 1, 2, 3], plan.Selected);
    }

    [Fact]
    public void Stays_merged_while_theta_L_times_F_remain_and_leaves_below()
    {
        var policy = new CreditLoraPolicy(MergingPays());
        policy.Plan(Queue("hot", "hot", "hot", "hot", "x"), maxBatch: 4);
        Assert.Equal(LoraExecutionMode.Merged, policy.Mode);
        double theta = policy.LeaveThreshold;
        Assert.InRange(theta, 0.1, 0.95);
        // Enough hot candidates left to stay: ceil(θ_L·4) of them.
        int stay = (int)Math.Ceiling(theta * 4);
        string[] Others(int n) => Enumerable.Range(0, n).Select(i => $"x{i}").ToArray();
        var plan = policy.Plan(Queue([.. Others(4 - stay), .. Enumerable.Repeat("hot", stay)]), maxBatch: 4);
        Assert.Equal(LoraExecutionMode.Merged, plan.Mode);
        // One fewer than that: back to unmerged FCFS.
        plan = policy.Plan(Queue([.. Others(5 - stay), .. Enumerable.Repeat("hot", stay - 1)]), maxBatch: 4);
        Assert.Equal(LoraExecutionMode.Unmerged, plan.Mode);
        Assert.Null(plan.MergedAdapter);
    }

    [Fact]
    public void Credit_moves_from_the_jumping_adapter_to_the_displaced_one_in_step_milliseconds_and_is_conserved()
    {
        var policy = new CreditLoraPolicy(MergingPays());
        // F = [cold, base, hot, hot]; merged hot runs rows 2..5: rows 0 (cold) and 1 (base) are displaced
        // by the jumpers 4 and 5 (hot). A merged step is 10 ms: cold +10, base +10, hot −20.
        policy.Plan(Queue("cold", null, "hot", "hot", "hot", "hot"), maxBatch: 4);
        Assert.Equal(10, policy.CreditOf("cold"), 9);
        Assert.Equal(10, policy.CreditOf(null), 9);
        Assert.Equal(-20, policy.CreditOf("hot"), 9);
        Assert.Equal(0, policy.Credits.Values.Sum(), 9);
    }

    [Fact]
    public void A_merged_step_smaller_than_F_charges_the_merged_adapter_for_each_displaced_request()
    {
        var policy = new CreditLoraPolicy(MergingPays());
        policy.Plan(Queue("hot", "hot", "hot", "hot"), maxBatch: 4);   // enter merged on hot
        // F = [a, hot, hot, b]; staying merged runs only the two hot rows; a and b wait one merged step each.
        var plan = policy.Plan(Queue("a", "hot", "hot", "b"), maxBatch: 4);
        Assert.Equal(LoraExecutionMode.Merged, plan.Mode);
        Assert.Equal(10, policy.CreditOf("a"), 9);
        Assert.Equal(10, policy.CreditOf("b"), 9);
        Assert.Equal(-20, policy.CreditOf("hot"), 9);
    }

    [Fact]
    public void Starvation_guard_fires_at_the_trigger_keeps_priority_above_release_and_then_lets_go()
    {
        var policy = new CreditLoraPolicy(MergingPays(), new CreditPolicyOptions { StarvationTriggerMs = 500, StarvationReleaseMs = 250, MergeEligibilityFloorMs = -10_000 });
        var displacing = Queue("cold", "hot", "hot", "hot", "hot", "hot");
        // Each merged step displaces cold (row 0) once: +10 ms. 50 steps reach the 500 ms trigger.
        for (int step = 0; step < 50; step++)
        {
            var p = policy.Plan(displacing, maxBatch: 4);
            Assert.Equal(LoraExecutionMode.Merged, p.Mode);
        }
        Assert.Equal(500, policy.CreditOf("cold"), 6);
        var guarded = policy.Plan(displacing, maxBatch: 4);
        Assert.Equal(LoraExecutionMode.Unmerged, guarded.Mode);
        Assert.Contains(0, guarded.Selected);
        Assert.Contains("cold", policy.Starving);

        // Now cold's requests sit behind F and jump it: each step cold pays 2 × one unmerged step.
        var jumping = Queue("hot", "hot", "hot", "hot", "hot", "cold", "cold");
        double before = policy.CreditOf("cold");
        var p1 = policy.Plan(jumping, maxBatch: 4);
        Assert.Equal([0, 1, 5, 6], p1.Selected);
        double paid = before - policy.CreditOf("cold");
        Assert.True(paid > 0);
        int steps = 1;
        while (policy.CreditOf("cold") >= 250)
        {
            var p = policy.Plan(jumping, maxBatch: 4);
            Assert.Equal([0, 1, 5, 6], p.Selected); // still first between release (250) and trigger (500): hysteresis
            steps++;
            Assert.True(steps < 1000);
        }
        var released = policy.Plan(jumping, maxBatch: 4);
        Assert.DoesNotContain("cold", policy.Starving);
        Assert.DoesNotContain(5, released.Selected);
        Assert.Equal(0, policy.Credits.Values.Sum(), 6);
    }

    [Fact]
    public void In_the_engine_setting_a_starving_adapter_served_within_F_repays_its_credit_and_the_guard_lets_go()
    {
        // The engine passes exactly F (maxBatch = candidates), so nobody can jump: a starving adapter is
        // served in place and repays the adapter that displaced it, one step per request.
        var policy = new CreditLoraPolicy(MergingPays(), new CreditPolicyOptions { StarvationTriggerMs = 100, StarvationReleaseMs = 50, InitialEnterThreshold = 0.5 });
        var f = Queue("cold", "hot", "hot", "hot", "hot", "hot", "hot", "hot");
        int merged = 0;
        while (!policy.Starving.Contains("cold"))
        {
            if (policy.Plan(f, f.Length).Mode == LoraExecutionMode.Merged) merged++;
            Assert.True(merged < 100, "the guard never fired");
        }
        Assert.Equal(10, merged); // +10 ms per merged step displacing cold: the 100 ms trigger after 10
        double before = policy.CreditOf("cold");
        var guarded = policy.Plan(f, f.Length);
        Assert.Equal(LoraExecutionMode.Unmerged, guarded.Mode);
        Assert.Equal(Enumerable.Range(0, 8), guarded.Selected);
        // Repaid one unmerged step: 10 ms + 2 distinct adapters × 7.5 ms = 25 ms, to hot (the debtor).
        Assert.Equal(before - 25, policy.CreditOf("cold"), 9);
        for (int guardedSteps = 1; ; guardedSteps++)
        {
            var p = policy.Plan(f, f.Length);
            if (!policy.Starving.Contains("cold"))
            {
                Assert.Equal(LoraExecutionMode.Merged, p.Mode); // released below 50 ms: hot merges again
                break;
            }
            Assert.Equal(LoraExecutionMode.Unmerged, p.Mode);
            Assert.True(guardedSteps < 20, "the guard never let go");
        }
        Assert.True(policy.CreditOf("cold") < 50);
        Assert.Equal(0, policy.Credits.Values.Sum(), 9);
    }

    [Fact]
    public void Re_merging_the_adapter_merged_last_counts_no_switch_cost()
    {
        // A 1 s switch would make any short merged period lose; re-merging hot is free, so it wins.
        var policy = new CreditLoraPolicy(new LoraCostModel(0.010, 0.040, 4, 1.0));
        var hot = Queue("hot", "hot", "hot", "hot", "hot");
        policy.Plan(hot, 4);                    // merge hot (pays 1 s)
        policy.Plan(Queue("a", "b", "c", "d"), 4); // leave: the merged period lost to its 1 s merge → θ_R ×1.1
        double enter = policy.EnterThreshold;
        policy.Plan(hot, 4);                    // re-merge hot (5 ≥ θ_R·4 = 4.4): free
        policy.Plan(hot, 4);
        policy.Plan(Queue("a", "b", "c", "d"), 4); // leave: this merged period won → θ_R − 0.05
        Assert.Equal(enter - 0.05, policy.EnterThreshold, 9);
    }

    [Fact]
    public void Thresholds_tune_additively_when_the_chosen_mode_won_and_multiplicatively_when_it_lost()
    {
        // Merged is 4× faster: a merged period that ends makes entering easier by exactly one additive step.
        var wins = new CreditLoraPolicy(MergingPays());
        double enter = wins.EnterThreshold;
        wins.Plan(Queue("hot", "hot", "hot", "hot"), 4);          // unmerged → merged (retunes the empty unmerged period)
        enter = wins.EnterThreshold;
        wins.Plan(Queue("hot", "hot", "hot", "hot"), 4);          // stay
        wins.Plan(Queue("a", "b", "c", "d"), 4);                  // merged → unmerged: retune the merged period
        Assert.Equal(enter - 0.05, wins.EnterThreshold, 9);

        // Merging costs a second per switch and saves 0.5 ms per step: the same period makes entering harder by ×1.1.
        var loses = new CreditLoraPolicy(new LoraCostModel(0.010, 0.012, 4, 1.0));
        loses.Plan(Queue("hot", "hot", "hot", "hot"), 4);
        enter = loses.EnterThreshold;
        loses.Plan(Queue("hot", "hot", "hot", "hot"), 4);
        loses.Plan(Queue("a", "b", "c", "d"), 4);
        Assert.Equal(enter * 1.1, loses.EnterThreshold, 9);
    }

    [Fact]
    public void Baselines_unmerged_only_runs_F_and_merged_only_runs_the_oldest_adapter_alone()
    {
        var q = Queue("a", "b", "a", null, "a");
        Assert.Equal([0, 1, 2], new UnmergedOnlyPolicy().Plan(q, 3).Selected);
        var merged = new MergedOnlyPolicy().Plan(q, 3);
        Assert.Equal("a", merged.MergedAdapter);
        Assert.Equal([0, 2, 4], merged.Selected);
        var baseOnly = new MergedOnlyPolicy().Plan(Queue(null, "a", null), 3);
        Assert.Equal(LoraExecutionMode.Unmerged, baseOnly.Mode);
        Assert.Equal([0, 2], baseOnly.Selected);
    }
}
