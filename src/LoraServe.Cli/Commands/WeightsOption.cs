using System.CommandLine;
using LoraServe.Models.Weights;

namespace LoraServe.Cli.Commands;

/// <summary>`--weights auto|mapped|resident`, shared by the commands that load a model (see <see cref="WeightPlacement"/>).</summary>
internal static class WeightsOption
{
    public static Option<WeightPlacement> Create() => new("--weights")
    {
        Description = "Where weight matrices live: mapped (views into the memory-mapped files), resident (copied once into huge pages; faster decode), auto (resident if they take at most half of available memory)",
        DefaultValueFactory = _ => WeightPlacement.Auto,
    };
}
