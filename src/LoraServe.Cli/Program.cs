using System.CommandLine;
using LoraServe.Cli.Commands;

var root = new RootCommand("LoraServe: multi-tenant LoRA serving and fine-tuning on the CPU");
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(CreateModelCommand.Create());
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(BenchReportCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
return await root.Parse(args).InvokeAsync();
