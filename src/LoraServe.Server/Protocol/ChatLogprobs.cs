namespace LoraServe.Server.Protocol;

/// <summary>Chat log-probabilities (OpenAI's shape): per generated token its text, log-probability, UTF-8 bytes and top alternatives.</summary>
public sealed record ChatLogprobs(IReadOnlyList<ChatTokenLogprob> Content);

public sealed record ChatTokenLogprob(string Token, float Logprob, IReadOnlyList<int> Bytes, IReadOnlyList<ChatTopLogprob> TopLogprobs);

public sealed record ChatTopLogprob(string Token, float Logprob, IReadOnlyList<int> Bytes);
