using System.Text;
using LoraServe.Engine.Requests;
using LoraServe.Models.Tokenization;
using LoraServe.Server.Protocol;
using LoraServe.Server.Serving;

namespace LoraServe.Server.Endpoints;

/// <summary>
/// Collects per-token log-probabilities and renders them in the completions shape (parallel
/// lists, alternatives as token → logprob maps) or the chat shape (objects with UTF-8 bytes).
/// A token's text is its own decoding, special tokens included, as vLLM reports it.
/// </summary>
internal sealed class LogprobsBuilder(HfTokenizer tokenizer, int offset = 0)
{
    /// <summary>JSON has no −∞; vLLM reports an impossible token's log-probability as −9999.</summary>
    private const float Floor = -9999f;

    private readonly List<GenerationUpdate> _tokens = [];

    /// <summary>Offset of the next token's text in the output (completions' text_offset).</summary>
    public int Offset { get; private set; } = offset;

    public void Add(GenerationUpdate u)
    {
        _tokens.Add(u);
        Offset += TokenText(u.TokenId).Length;
    }

    public CompletionLogprobs ToCompletionLogprobs()
    {
        var tokens = new List<string>(_tokens.Count);
        var values = new List<float>(_tokens.Count);
        var tops = new List<Dictionary<string, float>>(_tokens.Count);
        var offsets = new List<int>(_tokens.Count);
        int at = Offset;
        for (int i = _tokens.Count - 1; i >= 0; i--) at -= TokenText(_tokens[i].TokenId).Length;
        foreach (var u in _tokens)
        {
            string text = TokenText(u.TokenId);
            tokens.Add(text);
            values.Add(Clamp(u.LogProb));
            offsets.Add(at);
            at += text.Length;
            // vLLM's completions top_logprobs holds the alternatives and the chosen token.
            var top = new Dictionary<string, float>(StringComparer.Ordinal);
            foreach (var t in u.TopLogprobs ?? []) top.TryAdd(TokenText(t.TokenId), Clamp(t.LogProb));
            top.TryAdd(text, Clamp(u.LogProb));
            tops.Add(top);
        }
        return new CompletionLogprobs(tokens, values, tops, offsets);
    }

    public ChatLogprobs ToChatLogprobs()
    {
        var content = new List<ChatTokenLogprob>(_tokens.Count);
        foreach (var u in _tokens)
        {
            var top = new List<ChatTopLogprob>();
            foreach (var t in u.TopLogprobs ?? []) top.Add(new ChatTopLogprob(TokenText(t.TokenId), Clamp(t.LogProb), Bytes(TokenText(t.TokenId))));
            string text = TokenText(u.TokenId);
            content.Add(new ChatTokenLogprob(text, Clamp(u.LogProb), Bytes(text), top));
        }
        return new ChatLogprobs(content);
    }

    private string TokenText(int id) => tokenizer.Decode([id], skipSpecialTokens: false);

    private static int[] Bytes(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        var ints = new int[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) ints[i] = bytes[i];
        return ints;
    }

    private static float Clamp(float v) => float.IsNaN(v) || v < Floor ? Floor : v;
}
