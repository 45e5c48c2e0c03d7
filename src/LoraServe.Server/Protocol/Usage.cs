namespace LoraServe.Server.Protocol;

/// <summary>Token counts of one request (OpenAI's usage object).</summary>
public sealed record Usage(int PromptTokens, int CompletionTokens)
{
    public int TotalTokens => PromptTokens + CompletionTokens;
}
