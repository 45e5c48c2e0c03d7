using LoraServe.Engine.Requests;
using LoraServe.Engine.Scheduling;

namespace LoraServe.Engine.Tests.Scheduling;

/// <summary>
/// VTC counter semantics on scripted arrivals (DESIGN §5.1; VTC paper Alg. 2). Expected counters
/// are derived by hand from the rules with w_p = 1, w_q = 2.
/// </summary>
public sealed class VtcCounterTests
{
    private static SchedulerSimulation Sim(string policy, int maxSeqs = 1, int blocks = 1000, int blockSize = 4, FairnessOptions? fairness = null) =>
        new(policy, new SchedulerOptions { MaxNumSeqs = maxSeqs, MaxNumBatchedTokens = 4096 }, blocks, blockSize, 0, fairness);

    [Fact]
    public void Finished_request_costs_input_plus_one_output_charge_per_token_without_double_charge_on_the_finishing_step()
    {
        var sim = Sim(FairnessPolicies.Vtc);
        sim.Arrive("a", prompt: 10, output: 3);
        sim.Step();
        Assert.Equal(10 + 2, sim.Policy.Counter("a")); // input at admission + the first token out of prefill
        sim.RunToCompletion(10);
        Assert.Equal(10 + 2 * 3, sim.Policy.Counter("a"));
    }

    [Fact]
    public void Arrival_to_an_empty_queue_lifts_to_the_tenant_that_left_the_queue_last()
    {
        var sim = Sim(FairnessPolicies.Vtc);
        sim.Arrive("a", 10, 3);
        sim.RunToCompletion(10);
        sim.Arrive("b", 5, 1);
        Assert.Equal(16, sim.Policy.Counter("b"));
    }

    [Fact]
    public void Arrival_lifts_to_the_smallest_counter_among_waiting_tenants_and_never_lowers()
    {
        var sim = Sim(FairnessPolicies.Vtc);
        sim.Arrive("a", 10, 5);
        sim.Arrive("a", 4, 1);
        sim.Step(); // a's first request runs (max-num-seqs 1): a = 10 + 2; a's second waits
        sim.Arrive("c", 3, 1);
        Assert.Equal(12, sim.Policy.Counter("c"));
    }

    [Fact]
    public void The_lift_never_lowers_a_counter_that_is_already_above_the_floor()
    {
        var sim = Sim(FairnessPolicies.Vtc, maxSeqs: 2);
        sim.Arrive("a", 20, 1);
        sim.Arrive("b", 1, 8);
        sim.Arrive("b", 1, 1);
        sim.Step(); // admits a (a = 20) then b (b = 1); tokens: a = 22 (finished), b = 3; b's second request waits
        Assert.Equal(22, sim.Policy.Counter("a"));
        sim.Arrive("a", 5, 1); // floor = min waiting = b's 3
        Assert.Equal(22, sim.Policy.Counter("a"));
    }

    [Fact]
    public void Lcf_does_not_lift_a_returning_tenant()
    {
        var sim = Sim(FairnessPolicies.Lcf);
        sim.Arrive("a", 10, 5);
        sim.Arrive("a", 4, 1);
        sim.Step();
        sim.Arrive("c", 3, 1);
        Assert.Equal(0, sim.Policy.Counter("c"));
    }

    [Fact]
    public void Input_is_charged_at_admission_so_one_fill_alternates_between_equal_tenants()
    {
        var sim = Sim(FairnessPolicies.Vtc, maxSeqs: 4);
        for (int i = 0; i < 4; i++) sim.Arrive("a", 10, 2);
        for (int i = 0; i < 4; i++) sim.Arrive("b", 10, 2);
        var step = sim.Scheduler.Schedule();
        Assert.Equal(["a", "b", "a", "b"], step.Scheduled.Select(c => c.Sequence.Tenant).ToArray());
        Assert.Equal(20, sim.Policy.Counter("a"));
        Assert.Equal(20, sim.Policy.Counter("b"));
    }

    [Fact]
    public void Admission_stops_at_the_least_served_tenants_request_when_it_does_not_fit()
    {
        // 10 blocks of 4 tokens, no watermark.
        var sim = Sim(FairnessPolicies.Vtc, maxSeqs: 8, blocks: 10, blockSize: 4);
        sim.Arrive("a", 1, 1);
        sim.RunToCompletion(5);                 // a = 3
        sim.Arrive("b", 30, 50);                // lifted to 3, admitted: 8 blocks used, b = 35
        sim.Step();
        sim.Arrive("a", 12, 1);                 // lifted to b's 35 (left the queue last); needs 3 blocks, 2 are free
        sim.Arrive("b", 4, 1);                  // b's queue was empty: lifted to min waiting (a's 35); b's own counter is 35 already
        sim.Step();                             // b decodes: b = 37; a (35) is least served but does not fit
        Assert.Equal(1, sim.Policy.WaitingFor("b"));
        Assert.Equal(1, sim.Policy.WaitingFor("a"));
        Assert.Single(sim.Scheduler.Running);
        Assert.True(sim.Blocks.CanAllocate(4), "b's small request would fit; VTC must still not skip to it");
    }

    [Fact]
    public void Weighted_vtc_divides_every_charge_by_the_tenants_weight()
    {
        var fairness = new FairnessOptions { TenantWeights = new Dictionary<string, double> { ["a"] = 1, ["b"] = 2 } };
        var sim = Sim(FairnessPolicies.WeightedVtc, maxSeqs: 2, fairness: fairness);
        sim.Arrive("a", 10, 4);
        sim.Arrive("b", 10, 4);
        sim.RunToCompletion(20);
        Assert.Equal(18, sim.Policy.Counter("a"));
        Assert.Equal(9, sim.Policy.Counter("b"));
    }

    [Fact]
    public void Plain_vtc_ignores_weights()
    {
        var fairness = new FairnessOptions { TenantWeights = new Dictionary<string, double> { ["b"] = 2 } };
        var sim = Sim(FairnessPolicies.Vtc, maxSeqs: 2, fairness: fairness);
        sim.Arrive("a", 10, 4);
        sim.Arrive("b", 10, 4);
        sim.RunToCompletion(20);
        Assert.Equal(sim.Policy.Counter("a"), sim.Policy.Counter("b"));
    }

    [Fact]
    public void Vtc_predict_charges_the_prediction_up_front_and_settles_to_the_actual_cost()
    {
        var sim = Sim(FairnessPolicies.VtcPredict);
        var policy = (VtcPredictPolicy)sim.Policy;
        sim.Arrive("a", 10, 4);                 // no history: predicts 0
        sim.RunToCompletion(10);
        Assert.Equal(10 + 2 * 4, policy.Counter("a"));
        Assert.Equal(4, policy.PredictedOutput("a"));

        sim.Arrive("a", 10, 4);
        sim.Scheduler.Schedule();               // admission only: input + predicted 4 outputs
        Assert.Equal(18 + 10 + 8, policy.Counter("a"));
        sim.RunToCompletion(10);
        Assert.Equal(36, policy.Counter("a"), 9);

        sim.Arrive("a", 10, 2);                 // predicted 4, produces 2: 4 refunded at the end
        sim.RunToCompletion(10);
        Assert.Equal(36 + 10 + 2 * 2, policy.Counter("a"), 9);
        Assert.Equal((4 * 4 + 2) / 5.0, policy.PredictedOutput("a"), 9);
    }

    [Fact]
    public void Rate_limit_rejects_beyond_the_per_minute_quota_and_admits_again_after_the_window()
    {
        var sim = new SchedulerSimulation(FairnessPolicies.RateLimit, new SchedulerOptions(), 100, 4, 0, new FairnessOptions { RequestsPerMinute = 2 });
        sim.Now = 0; var r1 = sim.Arrive("a", 4, 1);
        sim.Now = 1; var r2 = sim.Arrive("a", 4, 1);
        sim.Now = 2; var r3 = sim.Arrive("a", 4, 1);
        sim.Now = 2; var other = sim.Arrive("b", 4, 1);
        sim.Now = 61; var r4 = sim.Arrive("a", 4, 1);
        Assert.Equal(FinishReason.Rejected, r3.Finish);
        Assert.Equal(SequenceStatus.Waiting, r1.Status);
        Assert.Equal(SequenceStatus.Waiting, r2.Status);
        Assert.Equal(SequenceStatus.Waiting, other.Status);
        Assert.Equal(SequenceStatus.Waiting, r4.Status);
    }

    [Fact]
    public void A_preempted_request_is_not_charged_again_and_does_not_trigger_a_lift()
    {
        // 6 blocks of 2 tokens, no watermark: two requests of 4 prompt + 4 output cannot both finish together.
        var sim = new SchedulerSimulation(FairnessPolicies.Vtc, new SchedulerOptions { MaxNumSeqs = 4, MaxNumBatchedTokens = 64 }, 6, 2);
        sim.Arrive("a", 4, 4);
        sim.Arrive("b", 4, 4);
        sim.RunToCompletion(100);
        Assert.True(sim.Scheduler.TotalPreemptions > 0, "the scenario must preempt");
        Assert.Equal(4 + 2 * 4, sim.Policy.Counter("a"));
        Assert.Equal(4 + 2 * 4, sim.Policy.Counter("b"));
        Assert.Equal(sim.Blocks.TotalBlocks, sim.Blocks.FreeBlocks);
    }
}
