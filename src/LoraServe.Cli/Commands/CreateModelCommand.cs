using System.CommandLine;
using LoraServe.Core.Tensors;
using LoraServe.Models.Creation;

namespace LoraServe.Cli.Commands;

/// <summary>`loraserve create-model`: a real-format HF model directory with random weights.</summary>
internal static class CreateModelCommand
{
    public static Command Create()
    {
        var shape = new Option<string>("--shape") { Description = $"Named shape: {string.Join(", ", ModelShape.PresetNames)}", DefaultValueFactory = _ => "tiny" };
        var output = new Option<string>("--out") { Description = "Directory to write (must not exist or be empty)", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed of the random weights", DefaultValueFactory = _ => 1234 };
        var dtype = new Option<string>("--dtype") { Description = "Weight dtype: F32, F16 or BF16", DefaultValueFactory = _ => "BF16" };
        var shards = new Option<int>("--shards") { Description = "Split weights over this many safetensors shards (with an index file)", DefaultValueFactory = _ => 1 };
        var command = new Command("create-model", "Write a Hugging Face model directory (config, safetensors, tokenizer) with seeded random weights");
        foreach (var o in new Option[] { shape, output, seed, dtype, shards }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            string dir = parse.GetValue(output)!;
            if (!DTypeExtensions.TryParseSafetensors(parse.GetValue(dtype)!.ToUpperInvariant(), out var dt))
            {
                Console.Error.WriteLine($"error: --dtype '{parse.GetValue(dtype)}' is not one of F32, F16, BF16");
                return 2;
            }
            if (System.IO.Directory.Exists(dir) && System.IO.Directory.EnumerateFileSystemEntries(dir).Any())
            {
                Console.Error.WriteLine($"error: --out '{dir}' exists and is not empty");
                return 2;
            }
            try
            {
                ModelDirectoryWriter.Write(dir, parse.GetValue(shape)!, parse.GetValue(seed), dt, parse.GetValue(shards));
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
            Console.WriteLine(Path.GetFullPath(dir));
            return 0;
        });
        return command;
    }
}
