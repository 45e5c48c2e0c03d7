using LoraServe.Models.Chat;
using LoraServe.Models.Tokenization;
using LoraServe.Training.Data;
using LoraServe.Training.Reporting;

namespace LoraServe.Training.Tests.Data;

public sealed class JsonlDatasetTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("loraserve-data-").FullName;
    private static readonly HfTokenizer Tokenizer = BuildTokenizer();

    private static HfTokenizer BuildTokenizer()
    {
        var (json, config, _) = TokenizerWriter.Build(400);
        return HfTokenizer.Parse(json, config, null, "built-in");
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private JsonlDataset Load(string text, int maxSeqLen = 64)
    {
        string path = Path.Combine(_dir, "d.jsonl");
        File.WriteAllText(path, text);
        return JsonlDataset.Load(path, Tokenizer, maxSeqLen, new ChatRenderer(ChatTemplate.ChatML));
    }

    [Fact]
    public void Prompt_completion_rows_train_only_on_the_completion_and_eos()
    {
        var set = Load("{\"prompt\":\"the cat\",\"completion\":\" sat down\"}\n");
        var e = Assert.Single(set.Examples);
        var prompt = Tokenizer.Encode("the cat", addSpecialTokens: true);
        var completion = Tokenizer.Encode(" sat down", addSpecialTokens: false);
        int eos = Tokenizer.EosTokenIds[0];
        Assert.Equal([.. prompt, .. completion, eos], e.Tokens);
        // Row i predicts token i+1: the last prompt row predicts the first completion token.
        var expected = Enumerable.Repeat(-1, prompt.Count - 1).Concat(completion).Append(eos).Append(-1).ToArray();
        Assert.Equal(expected, e.Targets);
    }

    [Fact]
    public void Text_rows_train_on_every_token()
    {
        var e = Assert.Single(Load("{\"text\":\"a whole line\"}\n").Examples);
        Assert.Equal(e.Tokens.Length - 1, e.LossTokens);
    }

    [Fact]
    public void Message_rows_train_only_on_assistant_turns()
    {
        var e = Assert.Single(Load("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"HELLO\"}]}\n").Examples);
        var trained = new List<int>();
        for (int i = 0; i < e.Targets.Length; i++) if (e.Targets[i] >= 0) trained.Add(e.Targets[i]);
        string text = Tokenizer.Decode(trained.ToArray(), skipSpecialTokens: false);
        Assert.StartsWith("HELLO", text);
        Assert.DoesNotContain("hi", text);
        Assert.Contains("<|im_end|>", text);
    }

    [Fact]
    public void Bad_rows_are_reported_with_their_line_numbers_and_good_rows_kept()
    {
        var set = Load(
            "{\"prompt\":\"a\",\"completion\":\"b\"}\n" +
            "\n" +
            "not json\n" +
            "{\"prompt\":\"a\"}\n" +
            "{\"other\":1}\n" +
            "{\"messages\":[{\"role\":\"user\",\"content\":\"no answer\"}]}\n" +
            "{\"text\":\"fine\"}\n");
        Assert.Equal(2, set.Examples.Count);
        Assert.Equal([3, 4, 5, 6], set.Errors.Select(e => e.LineNumber));
        Assert.Contains("invalid JSON", set.Errors[0].Message);
        Assert.Contains("\"completion\"", set.Errors[1].Message);
        Assert.Contains("assistant", set.Errors[3].Message);
    }

    [Fact]
    public void Rows_whose_completion_falls_beyond_max_seq_len_are_reported()
    {
        var set = Load("{\"prompt\":\"a fairly long prompt that fills the window\",\"completion\":\" x\"}\n", maxSeqLen: 3);
        Assert.Empty(set.Examples);
        Assert.Contains("--max-seq-len", Assert.Single(set.Errors).Message);
    }

    [Fact]
    public void Loss_curve_png_renders_headless()
    {
        var steps = Enumerable.Range(1, 20).Select(i => new StepResult(i, 0, 3.0 / i, 100, 50, 1e-3, 1.0, 0.1)).ToList();
        TrainingReport.Write(_dir, steps, [new EpochEvaluation(1, 20, 0.2, Math.Exp(0.2))], "test");
        var png = File.ReadAllBytes(Path.Combine(_dir, TrainingReport.PlotFile));
        Assert.True(png.Length > 5000);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        Assert.Equal(20, File.ReadAllLines(Path.Combine(_dir, TrainingReport.LogFile)).Length);
        Assert.Contains("perplexity", File.ReadAllText(Path.Combine(_dir, TrainingReport.EvalFile)));
    }
}
