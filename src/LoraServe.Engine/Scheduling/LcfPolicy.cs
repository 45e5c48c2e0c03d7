namespace LoraServe.Engine.Scheduling;

/// <summary>
/// Least Counter First — VTC without the counter lift (the paper's broken baseline, artifact
/// lcf_req_queue): a tenant returning from idle keeps its stale low counter and monopolises the
/// server until it catches up, i.e. it cashes in unused share as credit.
/// </summary>
public sealed class LcfPolicy(FairnessOptions options) : VtcPolicy(options, FairnessPolicies.Lcf)
{
    protected override void Lift(TenantState tenant) { }
}
