namespace LoraServe.Models.Chat.Jinja;

// The syntax tree: expressions evaluate to values, statements write output. Offset points into
// the normalised source so runtime errors can name a position.

internal abstract record JinjaExpr(int Offset);

internal sealed record LiteralExpr(int Offset, object? Value) : JinjaExpr(Offset);

internal sealed record ListExpr(int Offset, IReadOnlyList<JinjaExpr> Items, bool IsTuple) : JinjaExpr(Offset);

internal sealed record DictExpr(int Offset, IReadOnlyList<(JinjaExpr Key, JinjaExpr Value)> Pairs) : JinjaExpr(Offset);

internal sealed record NameExpr(int Offset, string Name) : JinjaExpr(Offset);

internal sealed record AttributeExpr(int Offset, JinjaExpr Target, string Name) : JinjaExpr(Offset);

internal sealed record IndexExpr(int Offset, JinjaExpr Target, JinjaExpr Index) : JinjaExpr(Offset);

internal sealed record SliceExpr(int Offset, JinjaExpr Target, JinjaExpr? Start, JinjaExpr? Stop, JinjaExpr? Step) : JinjaExpr(Offset);

internal sealed record CallArguments(IReadOnlyList<JinjaExpr> Positional, IReadOnlyList<(string Name, JinjaExpr Value)> Named)
{
    public static readonly CallArguments None = new([], []);
}

internal sealed record CallExpr(int Offset, JinjaExpr Callee, CallArguments Arguments) : JinjaExpr(Offset);

internal sealed record FilterExpr(int Offset, JinjaExpr Value, string Name, CallArguments Arguments) : JinjaExpr(Offset);

internal sealed record TestExpr(int Offset, JinjaExpr Value, string Name, CallArguments Arguments, bool Negated) : JinjaExpr(Offset);

internal sealed record UnaryExpr(int Offset, string Operator, JinjaExpr Operand) : JinjaExpr(Offset);

internal sealed record BinaryExpr(int Offset, string Operator, JinjaExpr Left, JinjaExpr Right) : JinjaExpr(Offset);

internal sealed record ConditionalExpr(int Offset, JinjaExpr Condition, JinjaExpr Then, JinjaExpr? Else) : JinjaExpr(Offset);

internal abstract record JinjaStmt(int Offset);

internal sealed record TextStmt(int Offset, string Text) : JinjaStmt(Offset);

internal sealed record OutputStmt(int Offset, JinjaExpr Value) : JinjaStmt(Offset);

internal sealed record IfStmt(int Offset, IReadOnlyList<(JinjaExpr Condition, IReadOnlyList<JinjaStmt> Body)> Branches, IReadOnlyList<JinjaStmt>? Else) : JinjaStmt(Offset);

internal sealed record ForStmt(int Offset, IReadOnlyList<string> Targets, JinjaExpr Iterable, JinjaExpr? Filter, IReadOnlyList<JinjaStmt> Body, IReadOnlyList<JinjaStmt>? Else) : JinjaStmt(Offset);

/// <summary><c>{% set a = … %}</c>, <c>{% set a, b = … %}</c> or <c>{% set ns.attr = … %}</c> (Attribute non-null).</summary>
internal sealed record SetStmt(int Offset, IReadOnlyList<string> Targets, string? Attribute, JinjaExpr Value) : JinjaStmt(Offset);

internal sealed record SetBlockStmt(int Offset, string Target, IReadOnlyList<JinjaStmt> Body) : JinjaStmt(Offset);

internal sealed record MacroStmt(int Offset, string Name, IReadOnlyList<(string Name, JinjaExpr? Default)> Parameters, IReadOnlyList<JinjaStmt> Body) : JinjaStmt(Offset);

internal sealed record LoopControlStmt(int Offset, bool IsBreak) : JinjaStmt(Offset);

/// <summary>transformers' <c>{% generation %}</c> tag: renders its body; the marker only tracks assistant spans.</summary>
internal sealed record GenerationStmt(int Offset, IReadOnlyList<JinjaStmt> Body) : JinjaStmt(Offset);
