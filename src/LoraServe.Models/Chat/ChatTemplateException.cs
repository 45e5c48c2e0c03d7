namespace LoraServe.Models.Chat;

/// <summary>
/// A chat template could not be parsed or rendered: a syntax error, a construct this renderer does
/// not implement, a runtime type error, or the template's own <c>raise_exception(...)</c>.
/// The message names the template source and, where known, the line and column.
/// </summary>
public sealed class ChatTemplateException : Exception
{
    public ChatTemplateException(string message) : base(message) { }

    public ChatTemplateException(string message, Exception inner) : base(message, inner) { }

    /// <summary>True when the template itself called <c>raise_exception</c> (e.g. bad role order).</summary>
    public bool RaisedByTemplate { get; init; }
}
