using Microsoft.Extensions.Hosting;

namespace LoraServe.Server.Serving;

/// <summary>
/// Graceful shutdown. Registered after Kestrel's hosted service, so the host stops it first: new
/// requests get 503 from then on, in-flight ones may finish for up to the drain timeout, and the
/// rest are cancelled — their streams still end with a finish_reason and [DONE]. Only then does
/// Kestrel stop, with no request left waiting on the engine.
/// </summary>
internal sealed class EngineLifetime(ServingContext serving, TimeSpan drainTimeout) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        serving.Admission.BeginShutdown();
        var drained = serving.Engine.StopAsync(drain: true);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(drainTimeout);
        try
        {
            await drained.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await serving.Engine.StopAsync(drain: false).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The engine loop had already failed: it ended every request with an error, and there is nothing left to drain.
        }
        // Let the handlers write their last chunk and [DONE] before Kestrel closes connections.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (serving.Admission.InFlight > 0 && DateTime.UtcNow < deadline) await Task.Delay(10, CancellationToken.None).ConfigureAwait(false);
    }
}
