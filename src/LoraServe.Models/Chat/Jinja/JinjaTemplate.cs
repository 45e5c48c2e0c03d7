using System.Text;

namespace LoraServe.Models.Chat.Jinja;

/// <summary>
/// A parsed template and the tree-walking interpreter that renders it. Parsing validates every
/// filter and test name up front, so an unsupported one fails at load time, not mid-request.
/// </summary>
internal sealed class JinjaTemplate
{
    private enum Flow { Normal, Break, Continue }

    private readonly JinjaSource _source;
    private readonly IReadOnlyList<JinjaStmt> _body;

    public JinjaTemplate(string name, string text)
    {
        _source = new JinjaSource(name, text);
        _body = JinjaParser.Parse(_source);
        foreach (var node in Walk(_body)) Validate(node);
    }

    /// <summary>True when some for-loop iterates over <c>x.content</c> / <c>x['content']</c>, i.e. the template expects content-part lists.</summary>
    public bool IteratesOverContent => Walk(_body).OfType<ForStmt>().Any(f => f.Iterable switch
    {
        AttributeExpr { Name: "content" } => true,
        IndexExpr { Index: LiteralExpr { Value: "content" } } => true,
        _ => false,
    });

    public string Render(IReadOnlyDictionary<string, object?> variables, Func<DateTime> now)
    {
        var globals = JinjaGlobals.Create(now);
        var scope = new JinjaScope(globals);
        foreach (var (name, value) in variables) scope.Set(name, value);
        var output = new StringBuilder();
        var flow = Execute(_body, new JinjaScope(scope), output);
        if (flow != Flow.Normal) throw new ChatTemplateException($"'break' or 'continue' outside a loop in {_source.Name}");
        return output.ToString();
    }

    // ---- validation ---------------------------------------------------------------------------

    private static IEnumerable<object> Walk(IReadOnlyList<JinjaStmt> body)
    {
        foreach (var stmt in body)
        {
            yield return stmt;
            IEnumerable<object> children = stmt switch
            {
                OutputStmt o => WalkExpr(o.Value),
                IfStmt i => i.Branches.SelectMany(b => WalkExpr(b.Condition).Concat(Walk(b.Body))).Concat(i.Else is null ? [] : Walk(i.Else)),
                ForStmt f => WalkExpr(f.Iterable).Concat(f.Filter is null ? [] : WalkExpr(f.Filter)).Concat(Walk(f.Body)).Concat(f.Else is null ? [] : Walk(f.Else)),
                SetStmt s => WalkExpr(s.Value),
                SetBlockStmt sb => Walk(sb.Body),
                MacroStmt m => m.Parameters.Where(p => p.Default is not null).SelectMany(p => WalkExpr(p.Default!)).Concat(Walk(m.Body)),
                GenerationStmt g => Walk(g.Body),
                _ => [],
            };
            foreach (var child in children) yield return child;
        }
    }

    private static IEnumerable<object> WalkExpr(JinjaExpr e)
    {
        yield return e;
        IEnumerable<JinjaExpr> children = e switch
        {
            ListExpr l => l.Items,
            DictExpr d => d.Pairs.SelectMany(p => new[] { p.Key, p.Value }),
            AttributeExpr a => [a.Target],
            IndexExpr i => [i.Target, i.Index],
            SliceExpr s => new[] { s.Target, s.Start, s.Stop, s.Step }.OfType<JinjaExpr>(),
            CallExpr c => c.Arguments.Positional.Prepend(c.Callee).Concat(c.Arguments.Named.Select(n => n.Value)),
            FilterExpr f => f.Arguments.Positional.Prepend(f.Value).Concat(f.Arguments.Named.Select(n => n.Value)),
            TestExpr t => t.Arguments.Positional.Prepend(t.Value).Concat(t.Arguments.Named.Select(n => n.Value)),
            UnaryExpr u => [u.Operand],
            BinaryExpr b => [b.Left, b.Right],
            ConditionalExpr c => new[] { c.Condition, c.Then, c.Else }.OfType<JinjaExpr>(),
            _ => [],
        };
        foreach (var child in children)
        {
            foreach (var node in WalkExpr(child)) yield return node;
        }
    }

    private void Validate(object node)
    {
        switch (node)
        {
            case FilterExpr f when !JinjaFilters.IsKnown(f.Name):
                throw _source.Error(f.Offset, $"Unsupported Jinja filter '{f.Name}'");
            case TestExpr t when !JinjaTests.IsKnown(t.Name):
                throw _source.Error(t.Offset, $"Unsupported Jinja test '{t.Name}'");
        }
    }

    // ---- statements ---------------------------------------------------------------------------

    private Flow Execute(IReadOnlyList<JinjaStmt> body, JinjaScope scope, StringBuilder output)
    {
        foreach (var stmt in body)
        {
            var flow = ExecuteOne(stmt, scope, output);
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow ExecuteOne(JinjaStmt stmt, JinjaScope scope, StringBuilder output)
    {
        switch (stmt)
        {
            case TextStmt t:
                output.Append(t.Text);
                return Flow.Normal;
            case OutputStmt o:
                output.Append(JinjaValues.ToStr(Eval(o.Value, scope)));
                return Flow.Normal;
            case IfStmt i:
                foreach (var (condition, branch) in i.Branches)
                {
                    if (JinjaValues.IsTruthy(Eval(condition, scope))) return Execute(branch, scope, output);
                }
                return i.Else is null ? Flow.Normal : Execute(i.Else, scope, output);
            case ForStmt f:
                ExecuteFor(f, scope, output);
                return Flow.Normal;
            case SetStmt s:
                ExecuteSet(s, scope);
                return Flow.Normal;
            case SetBlockStmt sb:
            {
                var captured = new StringBuilder();
                Execute(sb.Body, scope, captured);
                scope.Set(sb.Target, captured.ToString());
                return Flow.Normal;
            }
            case MacroStmt m:
                scope.Set(m.Name, MakeMacro(m, scope));
                return Flow.Normal;
            case LoopControlStmt l:
                return l.IsBreak ? Flow.Break : Flow.Continue;
            case GenerationStmt g:
                return Execute(g.Body, scope, output);
        }
        throw _source.Error(stmt.Offset, $"Unsupported statement {stmt.GetType().Name}");
    }

    private void ExecuteFor(ForStmt f, JinjaScope scope, StringBuilder output)
    {
        List<object?> items;
        try
        {
            items = JinjaValues.Iterate(Eval(f.Iterable, scope));
        }
        catch (JinjaRuntimeException ex)
        {
            throw _source.Error(f.Iterable.Offset, ex.Message);
        }
        if (f.Filter is not null)
        {
            // jinja2 filters before building the loop context, so loop.length/last count only kept items.
            items = items.Where(item =>
            {
                var probe = new JinjaScope(scope);
                Bind(f, probe, item);
                return JinjaValues.IsTruthy(Eval(f.Filter, probe));
            }).ToList();
        }
        if (items.Count == 0)
        {
            if (f.Else is not null) Execute(f.Else, scope, output);
            return;
        }
        var loop = new JinjaLoopContext(items);
        for (int i = 0; i < items.Count; i++)
        {
            loop.Index0 = i;
            var frame = new JinjaScope(scope);
            Bind(f, frame, items[i]);
            frame.Set("loop", loop);
            if (Execute(f.Body, frame, output) == Flow.Break) break;
        }
    }

    private void Bind(ForStmt f, JinjaScope frame, object? item)
    {
        if (f.Targets.Count == 1)
        {
            frame.Set(f.Targets[0], item);
            return;
        }
        var parts = Unpack(item, f.Targets.Count, f.Offset);
        for (int k = 0; k < parts.Count; k++) frame.Set(f.Targets[k], parts[k]);
    }

    private List<object?> Unpack(object? value, int count, int offset)
    {
        List<object?> parts;
        try
        {
            parts = JinjaValues.Iterate(value);
        }
        catch (JinjaRuntimeException ex)
        {
            throw _source.Error(offset, ex.Message);
        }
        if (parts.Count != count) throw _source.Error(offset, $"Cannot unpack {parts.Count} values into {count} names");
        return parts;
    }

    private void ExecuteSet(SetStmt s, JinjaScope scope)
    {
        var value = Eval(s.Value, scope);
        if (s.Attribute is not null)
        {
            if (!scope.TryGet(s.Targets[0], out var target) || target is not JinjaNamespace ns)
                throw _source.Error(s.Offset, $"Cannot assign attribute '{s.Attribute}' on '{s.Targets[0]}': only namespace() objects accept attribute assignment");
            ns.Attributes[s.Attribute] = value;
            return;
        }
        if (s.Targets.Count == 1)
        {
            scope.Set(s.Targets[0], value);
            return;
        }
        var parts = Unpack(value, s.Targets.Count, s.Offset);
        for (int k = 0; k < parts.Count; k++) scope.Set(s.Targets[k], parts[k]);
    }

    private JinjaFunction MakeMacro(MacroStmt m, JinjaScope definitionScope) => new(m.Name, (args, named) =>
    {
        if (args.Count > m.Parameters.Count) throw new JinjaRuntimeException($"macro '{m.Name}' takes {m.Parameters.Count} arguments, {args.Count} given");
        var frame = new JinjaScope(definitionScope);
        for (int k = 0; k < m.Parameters.Count; k++)
        {
            var (name, fallback) = m.Parameters[k];
            object? value = k < args.Count ? args[k]
                : named.TryGetValue(name, out var v) ? v
                : fallback is not null ? Eval(fallback, frame)
                : JinjaUndefined.Variable(name);
            frame.Set(name, value);
        }
        foreach (var key in named.Keys)
        {
            if (!m.Parameters.Any(p => p.Name == key)) throw new JinjaRuntimeException($"macro '{m.Name}' takes no keyword argument '{key}'");
        }
        var output = new StringBuilder();
        Execute(m.Body, frame, output);
        return output.ToString();
    });

    // ---- expressions --------------------------------------------------------------------------

    private object? Eval(JinjaExpr e, JinjaScope scope)
    {
        try
        {
            return EvalCore(e, scope);
        }
        catch (JinjaRuntimeException ex)
        {
            throw _source.Error(e.Offset, ex.Message);
        }
    }

    private object? EvalCore(JinjaExpr e, JinjaScope scope)
    {
        switch (e)
        {
            case LiteralExpr l: return l.Value;
            case NameExpr n: return scope.TryGet(n.Name, out var v) ? v : JinjaUndefined.Variable(n.Name);
            case ListExpr l:
            {
                var items = l.Items.Select(x => Eval(x, scope));
                return l.IsTuple ? new JinjaTuple(items) : items.ToList();
            }
            case DictExpr d:
            {
                var dict = new JinjaDict();
                foreach (var (key, value) in d.Pairs)
                {
                    var k = Eval(key, scope) ?? throw new JinjaRuntimeException("None as a dict key is not supported");
                    dict[k] = Eval(value, scope);
                }
                return dict;
            }
            case AttributeExpr a: return JinjaValues.GetAttribute(Eval(a.Target, scope), a.Name);
            case IndexExpr i: return JinjaValues.GetItem(Eval(i.Target, scope), Eval(i.Index, scope));
            case SliceExpr s:
                return JinjaValues.Slice(Eval(s.Target, scope),
                    s.Start is null ? null : Eval(s.Start, scope),
                    s.Stop is null ? null : Eval(s.Stop, scope),
                    s.Step is null ? null : Eval(s.Step, scope));
            case CallExpr c:
            {
                var callee = Eval(c.Callee, scope);
                var (args, named) = EvalArguments(c.Arguments, scope);
                return callee switch
                {
                    JinjaFunction f => f.Invoke(args, named),
                    JinjaUndefined u => throw JinjaValues.UndefinedError(u),
                    _ => throw new JinjaRuntimeException($"'{JinjaValues.TypeName(callee)}' object is not callable"),
                };
            }
            case FilterExpr f:
            {
                var value = Eval(f.Value, scope);
                var (args, named) = EvalArguments(f.Arguments, scope);
                return JinjaFilters.Apply(f.Name, value, args, named);
            }
            case TestExpr t:
            {
                var value = Eval(t.Value, scope);
                var (args, _) = EvalArguments(t.Arguments, scope);
                return JinjaTests.Apply(t.Name, value, args) != t.Negated;
            }
            case UnaryExpr u:
            {
                var operand = Eval(u.Operand, scope);
                return u.Operator switch
                {
                    "not" => !JinjaValues.IsTruthy(operand),
                    "-" => operand switch
                    {
                        // Boxed per arm: a switch over long and double arms would otherwise widen every result to double.
                        long l => (object)(-l),
                        double d => (object)(-d),
                        bool b => (object)(b ? -1L : 0L),
                        JinjaUndefined un => throw JinjaValues.UndefinedError(un),
                        _ => throw new JinjaRuntimeException($"bad operand type for unary -: '{JinjaValues.TypeName(operand)}'"),
                    },
                    _ => operand switch
                    {
                        bool b => (object)(b ? 1L : 0L),
                        long or double => operand,
                        JinjaUndefined un => throw JinjaValues.UndefinedError(un),
                        _ => throw new JinjaRuntimeException($"bad operand type for unary +: '{JinjaValues.TypeName(operand)}'"),
                    },
                };
            }
            case BinaryExpr b:
            {
                // and/or short-circuit and return an operand, as in Python.
                if (b.Operator == "and")
                {
                    var left = Eval(b.Left, scope);
                    return JinjaValues.IsTruthy(left) ? Eval(b.Right, scope) : left;
                }
                if (b.Operator == "or")
                {
                    var left = Eval(b.Left, scope);
                    return JinjaValues.IsTruthy(left) ? left : Eval(b.Right, scope);
                }
                return JinjaOperators.Apply(b.Operator, Eval(b.Left, scope), Eval(b.Right, scope));
            }
            case ConditionalExpr c:
                if (JinjaValues.IsTruthy(Eval(c.Condition, scope))) return Eval(c.Then, scope);
                return c.Else is null ? new JinjaUndefined("the inline if-expression evaluated to false and no else section was defined.") : Eval(c.Else, scope);
        }
        throw new JinjaRuntimeException($"Unsupported expression {e.GetType().Name}");
    }

    private (List<object?> Args, Dictionary<string, object?> Named) EvalArguments(CallArguments a, JinjaScope scope)
    {
        var args = a.Positional.Select(x => Eval(x, scope)).ToList();
        var named = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, value) in a.Named) named[name] = Eval(value, scope);
        return (args, named);
    }
}
