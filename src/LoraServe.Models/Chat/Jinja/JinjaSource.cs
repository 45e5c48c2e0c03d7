namespace LoraServe.Models.Chat.Jinja;

/// <summary>
/// The template text after Jinja's newline handling, plus a map from offsets to line:column so
/// every error can say where it happened.
/// </summary>
internal sealed class JinjaSource
{
    private readonly int[] _lineStarts;

    public JinjaSource(string name, string raw)
    {
        Name = name;
        // jinja2's lexer splits on \r\n, \r and \n and rejoins with "\n" (newline_sequence), and
        // with keep_trailing_newline=False (transformers' setting) drops one trailing newline.
        string text = raw.Replace("\r\n", "\n").Replace('\r', '\n');
        if (text.EndsWith('\n')) text = text[..^1];
        Text = text;
        var starts = new List<int> { 0 };
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] == '\n') starts.Add(i + 1);
        }
        _lineStarts = starts.ToArray();
    }

    public string Name { get; }

    public string Text { get; }

    public string Describe(int offset)
    {
        int idx = Array.BinarySearch(_lineStarts, offset);
        int line = idx >= 0 ? idx : ~idx - 1;
        return $"{Name} line {line + 1}, column {offset - _lineStarts[line] + 1}";
    }

    public ChatTemplateException Error(int offset, string message) => new($"{message} ({Describe(offset)})");
}
