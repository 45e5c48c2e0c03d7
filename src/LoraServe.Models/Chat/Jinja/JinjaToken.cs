namespace LoraServe.Models.Chat.Jinja;

internal enum JinjaTokenKind
{
    Text,
    VariableStart,
    VariableEnd,
    BlockStart,
    BlockEnd,
    Name,
    String,
    Integer,
    Float,
    Operator,
    End,
}

/// <summary>One lexical token; <see cref="Offset"/> indexes the normalised template source.</summary>
internal readonly record struct JinjaToken(JinjaTokenKind Kind, string Value, int Offset)
{
    public bool Is(JinjaTokenKind kind, string value) => Kind == kind && Value == value;

    public bool IsOperator(string op) => Kind == JinjaTokenKind.Operator && Value == op;

    public bool IsName(string name) => Kind == JinjaTokenKind.Name && Value == name;
}
