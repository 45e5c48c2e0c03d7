using LoraServe.Models.Chat;

namespace LoraServe.Models.Tests.Chat;

/// <summary>
/// One small case per interpreter feature. Expected strings are derived by hand from jinja2's
/// documented semantics under transformers' settings (trim_blocks, lstrip_blocks, no trailing newline).
/// </summary>
public sealed class JinjaFeatureTests
{
    private static string Render(string template, IReadOnlyDictionary<string, object?>? extra = null, bool addGenerationPrompt = false) =>
        ChatTemplate.Parse(template, "<s>", "</s>").Render([new ChatMessage("user", "hi")], addGenerationPrompt, extra);

    [Theory]
    // trim_blocks drops the newline after a block tag; lstrip_blocks drops the indentation before it.
    [InlineData("{% if true %}\n  yes\n{% endif %}\n", "  yes\n")]
    [InlineData("a\n    {% if true %}\nb\n    {% endif %}\nc", "a\nb\nc")]
    // Explicit '-' strips all whitespace on that side, including newlines.
    [InlineData("a  \n  {{- 'b' -}}  \n  c", "abc")]
    [InlineData("x\n{%- if true -%}\n  y  \n{%- endif %}", "xy")]
    // '+' turns lstrip_blocks off for that tag; '}}' never trims the following newline.
    [InlineData("  {%+ if true %}z{% endif %}", "  z")]
    [InlineData("{{ 'v' }}\nw", "v\nw")]
    // Comments vanish and obey trim_blocks; one trailing newline of the source is dropped.
    [InlineData("a{# note #}\nb\n", "ab")]
    [InlineData("{% raw %}{{ not evaluated }}{% endraw %}", "{{ not evaluated }}")]
    public void Whitespace_control_follows_jinja2(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{% for x in ['a','b','c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %}{{ loop.length }};{% endfor %}",
        "103F3;2123;321L3;")]
    // A filter on the for narrows the items before loop.* is computed.
    [InlineData("{% for x in [1,2,3,4] if x is even %}{{ x }}{{ loop.last }},{% endfor %}", "2False,4True,")]
    [InlineData("{% for x in [] %}{{ x }}{% else %}empty{% endfor %}", "empty")]
    [InlineData("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }} {% endfor %}", "a=1 b=2 ")]
    [InlineData("{% for x in [1,2,3,4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}", "13")]
    [InlineData("{% for x in 'ab' %}{{ loop.previtem is defined }}{{ x }}{% endfor %}", "FalseaTrueb")]
    public void For_loops_expose_loop_variables_and_filters(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    // A plain set inside a loop is scoped to the iteration; a namespace attribute survives it.
    [InlineData("{% set n = 0 %}{% for x in [1,2] %}{% set n = n + x %}{% endfor %}{{ n }}", "0")]
    [InlineData("{% set ns = namespace(n=0) %}{% for x in [1,2] %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}", "3")]
    [InlineData("{% set ns = namespace() %}{% set ns.flag = true %}{{ ns.flag }}", "True")]
    [InlineData("{% set a, b = 1, 2 %}{{ b }}{{ a }}", "21")]
    [InlineData("{% set (a, b) = [3, 4] %}{{ a }}{{ b }}", "34")]
    [InlineData("{% set block %}x{{ 1 + 1 }}{% endset %}[{{ block }}]", "[x2]")]
    [InlineData("{% if true %}{% set leaked = 'yes' %}{% endif %}{{ leaked }}", "yes")]
    public void Set_and_namespace_follow_jinja2_scoping(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ 'abcdef'[1:3] }}", "bc")]
    [InlineData("{{ 'abc'[::-1] }}", "cba")]
    [InlineData("{{ [1,2,3,4][-2:] }}", "[3, 4]")]
    [InlineData("{{ [1,2,3][-1] }}", "3")]
    [InlineData("{{ [1,2,3,4,5][::2] }}", "[1, 3, 5]")]
    [InlineData("{{ 'héllo🙂'[-1] }}", "🙂")]
    [InlineData("{{ [1,2][5] is defined }}", "False")]
    [InlineData("{{ [['a', 'b'], ['c', 'd']].1.0 }}", "c")]
    public void Subscripts_and_slices_use_python_semantics(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ '  x  ' | trim }}|", "x|")]
    [InlineData("{{ [1,2,3] | length }}{{ 'abc' | count }}", "33")]
    [InlineData("{{ 'aB' | upper }}{{ 'aB' | lower }}{{ 'hello world' | capitalize }}", "ABabHello world")]
    [InlineData("{{ 'hello big-world' | title }}", "Hello Big-World")]
    [InlineData("{{ [1,'a'] | join('-') }}{{ 3 | string }}{{ '42' | int + 1 }}{{ 'x' | int }}", "1-a3430")]
    [InlineData("{{ [4,5] | first }}{{ [4,5] | last }}{{ missing | default('dflt') }}{{ '' | default('e', true) }}", "45dflte")]
    [InlineData("{{ 'a-b-c' | replace('-', '+') }}", "a+b+c")]
    [InlineData("{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}", "q1,q2")]
    [InlineData("{{ msgs | rejectattr('role', 'eq', 'user') | list | length }}", "1")]
    [InlineData("{{ [1, 0, 2] | select | list }}{{ [1, 2, 3] | reject('odd') | list }}", "[1, 2][2]")]
    [InlineData("{{ {'b': 1, 'a': 2} | items | list }}", "[('b', 1), ('a', 2)]")]
    [InlineData("{{ 'a\nb\n' | indent(2) }}|{{ 'a\nb' | indent(2, true) }}", "a\n  b\n|  a\n  b")]
    [InlineData("{{ [3, 1, 2] | sort | join }}{{ ['x', 'y'] | reverse | join }}{{ [1, 2, 2] | unique | list }}", "123yx[1, 2]")]
    [InlineData("{{ ['a', 'b'] | map('upper') | join }}", "AB")]
    [InlineData("{{ -3 | abs }}{{ -2.5 | abs }}{{ 2.567 | round(2) }}", "32.52.57")]
    public void Filters_follow_jinja2(string template, string expected)
    {
        var msgs = new List<object?>
        {
            new Dictionary<string, object?> { ["role"] = "user", ["content"] = "q1" },
            new Dictionary<string, object?> { ["role"] = "assistant", ["content"] = "a1" },
            new Dictionary<string, object?> { ["role"] = "user", ["content"] = "q2" },
        };
        Assert.Equal(expected, Render(template, new Dictionary<string, object?> { ["msgs"] = msgs }));
    }

    [Theory]
    // Python's json.dumps(ensure_ascii=False): ", " and ": " separators, no HTML escaping, unicode kept.
    [InlineData("{{ {'a': [1, 2.5, none, true], 'b': '<é\"\n>'} | tojson }}", "{\"a\": [1, 2.5, null, true], \"b\": \"<é\\\"\\n>\"}")]
    [InlineData("{{ {'a': [1], 'b': {}} | tojson(indent=2) }}", "{\n  \"a\": [\n    1\n  ],\n  \"b\": {}\n}")]
    [InlineData("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}", "{\"a\": 2, \"b\": 1}")]
    [InlineData("{{ 'é' | tojson(ensure_ascii=true) }}", "\"\\u00e9\"")]
    public void Tojson_matches_transformers_override(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ x is defined }}{{ x is undefined }}{{ none is none }}{{ 'a' is string }}{{ 1 is number }}{{ 1.5 is float }}{{ 1 is integer }}", "FalseTrueTrueTrueTrueTrueTrue")]
    [InlineData("{{ {} is mapping }}{{ [] is iterable }}{{ 'a' is sequence }}{{ true is true }}{{ 0 is false }}{{ 3 is divisibleby 3 }}", "TrueTrueTrueTrueFalseTrue")]
    [InlineData("{{ 2 is odd }}{{ 'user' is equalto 'user' }}{{ 1 is not none }}{{ not x is defined }}", "FalseTrueTrueTrue")]
    public void Tests_follow_jinja2(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 4 / 2 }} {{ 2 ** 10 }}", "3 -4 1 2 3.5 2.0 1024")]
    [InlineData("{{ 1 + 2 * 3 }}{{ 'a' ~ 1 ~ none }}{{ 'ab' * 2 }}{{ [1] + [2] }}", "7a1Noneabab[1, 2]")]
    [InlineData("{{ 1 < 2 < 3 }}{{ 'b' > 'a' }}{{ 1 == 1.0 }}{{ 'a' in 'cat' }}{{ 3 not in [1, 2] }}{{ 'k' in {'k': 1} }}", "TrueTrueTrueTrueTrueTrue")]
    // Unlike Python, jinja2 binds unary minus tighter than **: -2 ** 2 is (-2) ** 2.
    [InlineData("{{ +true }}{{ -true }}{{ -(1 + 1) }}{{ - 2 ** 2 }}", "1-1-24")]
    [InlineData("{{ 0 or 'x' }}{{ 1 and 'y' }}{{ not 0 }}{{ 'yes' if 1 else 'no' }}{{ 'no' if 0 }}|", "xyTrueyes|")]
    [InlineData("{{ none }}{{ true }}{{ 1.0 }}{{ {'a': 'b'} }}{{ (1,) }}", "NoneTrue1.0{'a': 'b'}(1,)")]
    // Python float repr: positional between 1e-4 and 1e16, exponent form outside.
    [InlineData("{{ 1e15 }} {{ 1.5e15 }} {{ 1e16 }} {{ 0.0001 }} {{ 0.00001 }} {{ -2.5 }} {{ 0.1 + 0.2 }} {{ 123.456 }}",
        "1000000000000000.0 1500000000000000.0 1e+16 0.0001 1e-05 -2.5 0.30000000000000004 123.456")]
    public void Expressions_use_python_semantics(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ ' Hi '.strip() }}{{ 'xxhixx'.lstrip('x') }}{{ 'a,b'.split(',') }}{{ 'a  b '.split() }}", "Hihixx['a', 'b']['a', 'b']")]
    [InlineData("{{ 'abc'.startswith('a') }}{{ 'abc'.endswith(('x', 'c')) }}{{ 'they are'.title() }}{{ 'a-b'.replace('-', '') }}", "TrueTrueThey Areab")]
    [InlineData("{{ {'a': 1}.get('a') }}{{ {'a': 1}.get('z', 'd') }}{{ {'a': 1}.keys() | list }}{{ d.items() | list }}", "1d['a'][('k', 'v')]")]
    [InlineData("{{ d.k }}{{ d['k'] }}{{ d.missing is defined }}", "vvFalse")]
    // split(None, n) keeps the remainder's trailing whitespace; replace('', x, n) inserts at boundaries.
    [InlineData("{{ ' 1 2 3 '.split(none, 1) }}{{ 'ab'.replace('', '_', 2) }}{{ 'ab'.replace('', '-') }}", "['1', '2 3 ']_a_b-a-b-")]
    public void String_and_dict_methods_follow_python(string template, string expected) =>
        Assert.Equal(expected, Render(template, new Dictionary<string, object?> { ["d"] = new Dictionary<string, object?> { ["k"] = "v" } }));

    [Fact]
    public void Macros_take_positional_keyword_and_default_arguments()
    {
        const string template = "{% macro tag(name, inner='x') %}<{{ name }}>{{ inner }}</{{ name }}>{% endmacro %}{{ tag('a') }}{{ tag('b', inner='y') }}";
        Assert.Equal("<a>x</a><b>y</b>", Render(template));
    }

    [Fact]
    public void Undefined_variables_render_empty_and_are_falsy()
    {
        Assert.Equal("[]F0", Render("[{{ nothing }}]{% if nothing %}T{% else %}F{% endif %}{{ nothing | length }}"));
    }

    [Fact]
    public void Attribute_access_on_undefined_raises_a_positioned_error()
    {
        var ex = Assert.Throws<ChatTemplateException>(() => Render("line1\n{{ nothing.attr }}"));
        Assert.Contains("'nothing' is undefined", ex.Message);
        Assert.Contains("line 2", ex.Message);
        Assert.False(ex.RaisedByTemplate);
    }

    [Fact]
    public void Strftime_now_uses_the_template_clock()
    {
        var pinned = ChatTemplate.Parse("{{ strftime_now('%d %b %Y %H:%M') }}");
        pinned.Clock = () => new DateTime(2024, 7, 26, 9, 5, 0);
        Assert.Equal("26 Jul 2024 09:05", pinned.Render([new ChatMessage("user", "x")], false));
    }
}
