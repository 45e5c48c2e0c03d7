using System.Text.Json;

namespace LoraServe.Server.Tests.Support;

/// <summary>Reads a text/event-stream body as the OpenAI framing defines it: "data: …" events separated by blank lines, ending with [DONE].</summary>
public static class SseReader
{
    /// <summary>All events' JSON and whether the stream ended with data: [DONE] (checked to be the last event).</summary>
    public static async Task<(List<JsonElement> Events, bool Done)> ReadAllAsync(HttpResponseMessage response)
    {
        string body = await response.Content.ReadAsStringAsync();
        var events = new List<JsonElement>();
        bool done = false;
        foreach (var block in body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            Assert.StartsWith("data: ", block);
            Assert.False(done, "an event came after data: [DONE]");
            string data = block["data: ".Length..];
            if (data == "[DONE]") done = true;
            else events.Add(JsonDocument.Parse(data).RootElement.Clone());
        }
        return (events, done);
    }
}
