namespace LoraServe.Models.Chat.Jinja;

/// <summary>
/// Recursive-descent parser for jinja2's grammar. This half parses statements (tags and their
/// bodies); JinjaParser.Expressions.cs parses the expressions inside tags.
/// </summary>
internal sealed partial class JinjaParser
{
    private static readonly HashSet<string> UnsupportedTags =
        ["extends", "block", "include", "import", "from", "call", "filter", "with", "do", "autoescape", "trans", "pluralize", "raw"];

    private readonly JinjaSource _source;
    private readonly List<JinjaToken> _tokens;
    private int _pos;

    private JinjaParser(JinjaSource source, List<JinjaToken> tokens)
    {
        _source = source;
        _tokens = tokens;
    }

    public static IReadOnlyList<JinjaStmt> Parse(JinjaSource source)
    {
        var parser = new JinjaParser(source, JinjaLexer.Tokenize(source));
        var body = parser.ParseStatements([], out _);
        return body;
    }

    private JinjaToken Current => _tokens[_pos];

    private JinjaToken Peek(int ahead) => _tokens[Math.Min(_pos + ahead, _tokens.Count - 1)];

    private JinjaToken Advance() => _tokens[_pos++];

    private ChatTemplateException Error(JinjaToken at, string message) => _source.Error(at.Offset, message);

    private static string Describe(JinjaToken t) => t.Kind switch
    {
        JinjaTokenKind.End => "end of template",
        JinjaTokenKind.BlockEnd => "'%}'",
        JinjaTokenKind.VariableEnd => "'}}'",
        JinjaTokenKind.String => $"string '{t.Value}'",
        _ => $"'{t.Value}'",
    };

    private void ExpectOperator(string op)
    {
        if (!Current.IsOperator(op)) throw Error(Current, $"Expected '{op}' but found {Describe(Current)}");
        _pos++;
    }

    private void ExpectName(string name)
    {
        if (!Current.IsName(name)) throw Error(Current, $"Expected '{name}' but found {Describe(Current)}");
        _pos++;
    }

    private string ExpectIdentifier()
    {
        if (Current.Kind != JinjaTokenKind.Name) throw Error(Current, $"Expected a name but found {Describe(Current)}");
        return Advance().Value;
    }

    private void ExpectBlockEnd()
    {
        if (Current.Kind != JinjaTokenKind.BlockEnd) throw Error(Current, $"Expected '%}}' but found {Describe(Current)}");
        _pos++;
    }

    // ---- statements -------------------------------------------------------------------------

    /// <summary>Parses until a block tag whose keyword is in <paramref name="endTags"/>; leaves the parser after that keyword.</summary>
    private List<JinjaStmt> ParseStatements(IReadOnlyCollection<string> endTags, out string? endTag)
    {
        var body = new List<JinjaStmt>();
        while (true)
        {
            var t = Current;
            switch (t.Kind)
            {
                case JinjaTokenKind.End:
                    if (endTags.Count > 0) throw Error(t, $"Unexpected end of template; expected one of {string.Join(", ", endTags.Select(e => $"'{{% {e} %}}'"))}");
                    endTag = null;
                    return body;
                case JinjaTokenKind.Text:
                    _pos++;
                    body.Add(new TextStmt(t.Offset, t.Value));
                    break;
                case JinjaTokenKind.VariableStart:
                    _pos++;
                    var expr = ParseTuple(withCondition: true);
                    if (Current.Kind != JinjaTokenKind.VariableEnd) throw Error(Current, $"Expected '}}}}' but found {Describe(Current)}");
                    _pos++;
                    body.Add(new OutputStmt(t.Offset, expr));
                    break;
                case JinjaTokenKind.BlockStart:
                    _pos++;
                    var keyword = Current;
                    if (keyword.Kind != JinjaTokenKind.Name) throw Error(keyword, $"Expected a tag name after '{{%' but found {Describe(keyword)}");
                    if (endTags.Contains(keyword.Value))
                    {
                        _pos++;
                        endTag = keyword.Value;
                        return body;
                    }
                    body.Add(ParseTag(keyword));
                    break;
                default:
                    throw Error(t, $"Unexpected {Describe(t)}");
            }
        }
    }

    private JinjaStmt ParseTag(JinjaToken keyword)
    {
        _pos++;
        switch (keyword.Value)
        {
            case "if": return ParseIf(keyword.Offset);
            case "for": return ParseFor(keyword.Offset);
            case "set": return ParseSet(keyword.Offset);
            case "macro": return ParseMacro(keyword.Offset);
            case "break":
            case "continue":
                ExpectBlockEnd();
                return new LoopControlStmt(keyword.Offset, keyword.Value == "break");
            case "generation":
                ExpectBlockEnd();
                var body = ParseStatements(["endgeneration"], out _);
                ExpectBlockEnd();
                return new GenerationStmt(keyword.Offset, body);
        }
        if (UnsupportedTags.Contains(keyword.Value))
            throw Error(keyword, $"Unsupported Jinja construct '{{% {keyword.Value} %}}'");
        throw Error(keyword, $"Unknown or misplaced Jinja tag '{{% {keyword.Value} %}}'");
    }

    private IfStmt ParseIf(int offset)
    {
        var branches = new List<(JinjaExpr, IReadOnlyList<JinjaStmt>)>();
        IReadOnlyList<JinjaStmt>? elseBody = null;
        var condition = ParseTuple(withCondition: false);
        while (true)
        {
            ExpectBlockEnd();
            var body = ParseStatements(["elif", "else", "endif"], out string? end);
            branches.Add((condition, body));
            if (end == "elif")
            {
                condition = ParseTuple(withCondition: false);
                continue;
            }
            if (end == "else")
            {
                ExpectBlockEnd();
                elseBody = ParseStatements(["endif"], out _);
            }
            ExpectBlockEnd();
            return new IfStmt(offset, branches, elseBody);
        }
    }

    private ForStmt ParseFor(int offset)
    {
        var targets = new List<string>();
        bool parenthesised = Current.IsOperator("(");
        if (parenthesised) _pos++;
        targets.Add(ExpectIdentifier());
        while (Current.IsOperator(","))
        {
            _pos++;
            if (Current.IsName("in") || Current.IsOperator(")")) break;
            targets.Add(ExpectIdentifier());
        }
        if (parenthesised) ExpectOperator(")");
        ExpectName("in");
        var iterable = ParseTuple(withCondition: false);
        JinjaExpr? filter = null;
        if (Current.IsName("if"))
        {
            _pos++;
            filter = ParseExpression(withCondition: true);
        }
        if (Current.IsName("recursive")) throw Error(Current, "Unsupported Jinja construct 'for ... recursive'");
        ExpectBlockEnd();
        var body = ParseStatements(["else", "endfor"], out string? end);
        IReadOnlyList<JinjaStmt>? elseBody = null;
        if (end == "else")
        {
            ExpectBlockEnd();
            elseBody = ParseStatements(["endfor"], out _);
        }
        ExpectBlockEnd();
        return new ForStmt(offset, targets, iterable, filter, body, elseBody);
    }

    private JinjaStmt ParseSet(int offset)
    {
        if (Current.IsOperator("("))
        {
            // Parenthesised tuple target: {% set (a, b) = … %}.
            _pos++;
            var names = new List<string> { ExpectIdentifier() };
            while (Current.IsOperator(","))
            {
                _pos++;
                if (Current.IsOperator(")")) break;
                names.Add(ExpectIdentifier());
            }
            ExpectOperator(")");
            ExpectOperator("=");
            var tupleValue = ParseTuple(withCondition: true);
            ExpectBlockEnd();
            return new SetStmt(offset, names, null, tupleValue);
        }
        string first = ExpectIdentifier();
        if (Current.IsOperator("."))
        {
            _pos++;
            string attribute = ExpectIdentifier();
            ExpectOperator("=");
            var value = ParseTuple(withCondition: true);
            ExpectBlockEnd();
            return new SetStmt(offset, [first], attribute, value);
        }
        var targets = new List<string> { first };
        while (Current.IsOperator(","))
        {
            _pos++;
            targets.Add(ExpectIdentifier());
        }
        if (Current.IsOperator("="))
        {
            _pos++;
            var value = ParseTuple(withCondition: true);
            ExpectBlockEnd();
            return new SetStmt(offset, targets, null, value);
        }
        if (targets.Count != 1) throw Error(Current, "Expected '=' after set targets");
        if (Current.IsOperator("|")) throw Error(Current, "Unsupported Jinja construct 'filtered block set'");
        ExpectBlockEnd();
        var body = ParseStatements(["endset"], out _);
        ExpectBlockEnd();
        return new SetBlockStmt(offset, first, body);
    }

    private MacroStmt ParseMacro(int offset)
    {
        string name = ExpectIdentifier();
        ExpectOperator("(");
        var parameters = new List<(string, JinjaExpr?)>();
        while (!Current.IsOperator(")"))
        {
            if (parameters.Count > 0) ExpectOperator(",");
            if (Current.IsOperator(")")) break;
            string p = ExpectIdentifier();
            JinjaExpr? def = null;
            if (Current.IsOperator("="))
            {
                _pos++;
                def = ParseExpression(withCondition: true);
            }
            parameters.Add((p, def));
        }
        _pos++;
        ExpectBlockEnd();
        var body = ParseStatements(["endmacro"], out _);
        if (Current.Kind == JinjaTokenKind.Name && Current.Value == name) _pos++;
        ExpectBlockEnd();
        return new MacroStmt(offset, name, parameters, body);
    }
}
