using System.Globalization;

namespace LoraServe.Models.Chat.Jinja;

/// <summary>
/// Expression grammar with jinja2's precedence (lowest first): conditional <c>a if b else c</c>,
/// <c>or</c>, <c>and</c>, <c>not</c>, comparisons and <c>in</c>, <c>+ -</c>, <c>~</c>,
/// <c>* / // %</c>, <c>**</c>, unary <c>- +</c>, then postfix (<c>.attr</c>, <c>[i]</c>,
/// <c>(args)</c>) and finally filters <c>|f</c> and tests <c>is t</c>, which bind tighter than every
/// binary operator (so <c>a + b | trim</c> trims only b).
/// </summary>
internal sealed partial class JinjaParser
{

    /// <summary>An expression, or a bare comma-separated tuple (<c>{% set a, b = 1, 2 %}</c>).</summary>
    private JinjaExpr ParseTuple(bool withCondition)
    {
        int offset = Current.Offset;
        var first = ParseExpression(withCondition);
        if (!Current.IsOperator(",")) return first;
        var items = new List<JinjaExpr> { first };
        while (Current.IsOperator(","))
        {
            _pos++;
            if (!CanStartExpression(Current)) break;
            items.Add(ParseExpression(withCondition));
        }
        return new ListExpr(offset, items, IsTuple: true);
    }

    private static bool CanStartExpression(JinjaToken t) => t.Kind switch
    {
        JinjaTokenKind.Name or JinjaTokenKind.String or JinjaTokenKind.Integer or JinjaTokenKind.Float => true,
        JinjaTokenKind.Operator => t.Value is "(" or "[" or "{" or "-" or "+",
        _ => false,
    };

    private JinjaExpr ParseExpression(bool withCondition)
    {
        var expr = ParseOr();
        if (!withCondition) return expr;
        while (Current.IsName("if"))
        {
            int offset = Current.Offset;
            _pos++;
            var condition = ParseOr();
            JinjaExpr? otherwise = null;
            if (Current.IsName("else"))
            {
                _pos++;
                otherwise = ParseExpression(withCondition: true);
            }
            expr = new ConditionalExpr(offset, condition, expr, otherwise);
        }
        return expr;
    }

    private JinjaExpr ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or"))
        {
            int offset = Advance().Offset;
            left = new BinaryExpr(offset, "or", left, ParseAnd());
        }
        return left;
    }

    private JinjaExpr ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and"))
        {
            int offset = Advance().Offset;
            left = new BinaryExpr(offset, "and", left, ParseNot());
        }
        return left;
    }

    private JinjaExpr ParseNot()
    {
        if (Current.IsName("not"))
        {
            int offset = Advance().Offset;
            return new UnaryExpr(offset, "not", ParseNot());
        }
        return ParseCompare();
    }

    private JinjaExpr ParseCompare()
    {
        var left = ParseMath1();
        JinjaExpr? chain = null;
        while (true)
        {
            var t = Current;
            string? op = null;
            if (t.Kind == JinjaTokenKind.Operator && t.Value is "==" or "!=" or "<" or ">" or "<=" or ">=") op = t.Value;
            else if (t.IsName("in")) op = "in";
            else if (t.IsName("not") && Peek(1).IsName("in"))
            {
                op = "not in";
                _pos++;
            }
            if (op is null) break;
            _pos++;
            var right = ParseMath1();
            var comparison = new BinaryExpr(t.Offset, op, left, right);
            // Python chains a < b < c as (a < b) and (b < c).
            chain = chain is null ? comparison : new BinaryExpr(t.Offset, "and", chain, comparison);
            left = right;
        }
        return chain ?? left;
    }

    private JinjaExpr ParseMath1()
    {
        var left = ParseConcat();
        while (Current.Kind == JinjaTokenKind.Operator && Current.Value is "+" or "-")
        {
            var t = Advance();
            left = new BinaryExpr(t.Offset, t.Value, left, ParseConcat());
        }
        return left;
    }

    private JinjaExpr ParseConcat()
    {
        var left = ParseMath2();
        while (Current.IsOperator("~"))
        {
            var t = Advance();
            left = new BinaryExpr(t.Offset, "~", left, ParseMath2());
        }
        return left;
    }

    private JinjaExpr ParseMath2()
    {
        var left = ParsePow();
        while (Current.Kind == JinjaTokenKind.Operator && Current.Value is "*" or "/" or "//" or "%")
        {
            var t = Advance();
            left = new BinaryExpr(t.Offset, t.Value, left, ParsePow());
        }
        return left;
    }

    private JinjaExpr ParsePow()
    {
        var left = ParseUnary(withFilter: true);
        while (Current.IsOperator("**"))
        {
            var t = Advance();
            left = new BinaryExpr(t.Offset, "**", left, ParseUnary(withFilter: true));
        }
        return left;
    }

    private JinjaExpr ParseUnary(bool withFilter)
    {
        JinjaExpr node;
        var t = Current;
        if (t.IsOperator("-") || t.IsOperator("+"))
        {
            _pos++;
            node = new UnaryExpr(t.Offset, t.Value, ParseUnary(withFilter: false));
        }
        else
        {
            node = ParsePostfix(ParsePrimary());
        }
        return withFilter ? ParseFilterExpr(node) : node;
    }

    private JinjaExpr ParsePrimary()
    {
        var t = Current;
        switch (t.Kind)
        {
            case JinjaTokenKind.Name:
                _pos++;
                return t.Value switch
                {
                    "true" or "True" => new LiteralExpr(t.Offset, true),
                    "false" or "False" => new LiteralExpr(t.Offset, false),
                    "none" or "None" => new LiteralExpr(t.Offset, null),
                    _ => new NameExpr(t.Offset, t.Value),
                };
            case JinjaTokenKind.String:
            {
                _pos++;
                string value = t.Value;
                // Adjacent literals concatenate, as in Python.
                while (Current.Kind == JinjaTokenKind.String) value += Advance().Value;
                return new LiteralExpr(t.Offset, value);
            }
            case JinjaTokenKind.Integer:
                _pos++;
                if (!long.TryParse(t.Value, NumberStyles.None, CultureInfo.InvariantCulture, out long integer))
                    throw Error(t, $"Integer literal {t.Value} is out of range");
                return new LiteralExpr(t.Offset, integer);
            case JinjaTokenKind.Float:
                _pos++;
                return new LiteralExpr(t.Offset, double.Parse(t.Value, NumberStyles.Float, CultureInfo.InvariantCulture));
            case JinjaTokenKind.Operator when t.Value == "(":
            {
                _pos++;
                if (Current.IsOperator(")"))
                {
                    _pos++;
                    return new ListExpr(t.Offset, [], IsTuple: true);
                }
                var inner = ParseTuple(withCondition: true);
                ExpectOperator(")");
                return inner;
            }
            case JinjaTokenKind.Operator when t.Value == "[":
            {
                _pos++;
                var items = new List<JinjaExpr>();
                while (!Current.IsOperator("]"))
                {
                    if (items.Count > 0) ExpectOperator(",");
                    if (Current.IsOperator("]")) break;
                    items.Add(ParseExpression(withCondition: true));
                }
                _pos++;
                return new ListExpr(t.Offset, items, IsTuple: false);
            }
            case JinjaTokenKind.Operator when t.Value == "{":
            {
                _pos++;
                var pairs = new List<(JinjaExpr, JinjaExpr)>();
                while (!Current.IsOperator("}"))
                {
                    if (pairs.Count > 0) ExpectOperator(",");
                    if (Current.IsOperator("}")) break;
                    var key = ParseExpression(withCondition: true);
                    ExpectOperator(":");
                    pairs.Add((key, ParseExpression(withCondition: true)));
                }
                _pos++;
                return new DictExpr(t.Offset, pairs);
            }
        }
        throw Error(t, $"Unexpected {Describe(t)} in expression");
    }

    private JinjaExpr ParsePostfix(JinjaExpr node)
    {
        while (true)
        {
            var t = Current;
            if (t.IsOperator("."))
            {
                _pos++;
                var name = Current;
                if (name.Kind == JinjaTokenKind.Name) node = new AttributeExpr(t.Offset, node, Advance().Value);
                else if (name.Kind == JinjaTokenKind.Integer) node = new IndexExpr(t.Offset, node, new LiteralExpr(name.Offset, long.Parse(Advance().Value, CultureInfo.InvariantCulture)));
                else throw Error(name, $"Expected an attribute name after '.' but found {Describe(name)}");
            }
            else if (t.IsOperator("["))
            {
                _pos++;
                node = ParseSubscript(t.Offset, node);
            }
            else if (t.IsOperator("("))
            {
                node = new CallExpr(t.Offset, node, ParseCallArguments());
            }
            else
            {
                return node;
            }
        }
    }

    private JinjaExpr ParseSubscript(int offset, JinjaExpr target)
    {
        JinjaExpr? start = null, stop = null, step = null;
        if (!Current.IsOperator(":")) start = ParseExpression(withCondition: true);
        if (!Current.IsOperator(":"))
        {
            if (start is null) throw Error(Current, "Empty subscript");
            if (Current.IsOperator(",")) throw Error(Current, "Unsupported Jinja construct 'tuple subscript'");
            ExpectOperator("]");
            return new IndexExpr(offset, target, start);
        }
        _pos++;
        if (!Current.IsOperator(":") && !Current.IsOperator("]")) stop = ParseExpression(withCondition: true);
        if (Current.IsOperator(":"))
        {
            _pos++;
            if (!Current.IsOperator("]")) step = ParseExpression(withCondition: true);
        }
        ExpectOperator("]");
        return new SliceExpr(offset, target, start, stop, step);
    }

    private CallArguments ParseCallArguments()
    {
        ExpectOperator("(");
        var positional = new List<JinjaExpr>();
        var named = new List<(string, JinjaExpr)>();
        while (!Current.IsOperator(")"))
        {
            if (positional.Count + named.Count > 0) ExpectOperator(",");
            if (Current.IsOperator(")")) break;
            if (Current.IsOperator("*") || Current.IsOperator("**")) throw Error(Current, "Unsupported Jinja construct '*args/**kwargs in a call'");
            if (Current.Kind == JinjaTokenKind.Name && Peek(1).IsOperator("="))
            {
                string name = Advance().Value;
                _pos++;
                named.Add((name, ParseExpression(withCondition: true)));
            }
            else
            {
                if (named.Count > 0) throw Error(Current, "Positional argument after keyword argument");
                positional.Add(ParseExpression(withCondition: true));
            }
        }
        _pos++;
        return new CallArguments(positional, named);
    }

    private JinjaExpr ParseFilterExpr(JinjaExpr node)
    {
        while (true)
        {
            var t = Current;
            if (t.IsOperator("|"))
            {
                _pos++;
                string name = ParseDottedName();
                var args = Current.IsOperator("(") ? ParseCallArguments() : CallArguments.None;
                node = new FilterExpr(t.Offset, node, name, args);
            }
            else if (t.IsName("is"))
            {
                _pos++;
                bool negated = false;
                if (Current.IsName("not"))
                {
                    negated = true;
                    _pos++;
                }
                string name = ParseDottedName();
                CallArguments args = CallArguments.None;
                if (Current.IsOperator("("))
                {
                    args = ParseCallArguments();
                }
                else if (IsBareTestArgument(Current))
                {
                    // jinja2 accepts one bare argument: "x is divisibleby 3", "x is sameas none".
                    args = new CallArguments([ParsePostfix(ParsePrimary())], []);
                }
                node = new TestExpr(t.Offset, node, name, args, negated);
            }
            else if (t.IsOperator("("))
            {
                node = new CallExpr(t.Offset, node, ParseCallArguments());
            }
            else
            {
                return node;
            }
        }
    }

    private static bool IsBareTestArgument(JinjaToken t) => t.Kind switch
    {
        JinjaTokenKind.Name => t.Value is not ("else" or "or" or "and" or "is" or "if" or "in" or "not"),
        JinjaTokenKind.String or JinjaTokenKind.Integer or JinjaTokenKind.Float => true,
        JinjaTokenKind.Operator => t.Value is "[" or "{",
        _ => false,
    };

    private string ParseDottedName()
    {
        string name = ExpectIdentifier();
        while (Current.IsOperator(".") && Peek(1).Kind == JinjaTokenKind.Name)
        {
            _pos++;
            name += "." + Advance().Value;
        }
        return name;
    }
}
