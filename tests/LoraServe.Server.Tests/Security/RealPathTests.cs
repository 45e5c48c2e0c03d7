using LoraServe.Server.Security;

namespace LoraServe.Server.Tests.Security;

/// <summary>RealPath against what POSIX realpath(3) gives for the same tree (expected paths written out by hand).</summary>
public sealed class RealPathTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("realpath-").FullName;

    public RealPathTests()
    {
        Directory.CreateDirectory(Path.Combine(_root, "a", "b"));
        Directory.CreateDirectory(Path.Combine(_root, "c"));
        File.WriteAllText(Path.Combine(_root, "c", "f.txt"), "x");
        Directory.CreateSymbolicLink(Path.Combine(_root, "a", "up"), "..");                  // relative link to the parent
        Directory.CreateSymbolicLink(Path.Combine(_root, "a", "b", "toc"), Path.Combine(_root, "c"));
        Directory.CreateSymbolicLink(Path.Combine(_root, "chain"), Path.Combine(_root, "a", "b", "toc"));
        File.CreateSymbolicLink(Path.Combine(_root, "flink"), Path.Combine(_root, "c", "f.txt"));
        Directory.CreateSymbolicLink(Path.Combine(_root, "loop1"), Path.Combine(_root, "loop2"));
        Directory.CreateSymbolicLink(Path.Combine(_root, "loop2"), Path.Combine(_root, "loop1"));
    }

    private string P(params string[] parts) => Path.Combine([_root, .. parts]);

    [Fact]
    public void Every_link_on_the_way_is_resolved_not_only_the_last()
    {
        string real = RealPath.Resolve(_root);
        Assert.Equal(Path.Combine(real, "c", "f.txt"), RealPath.Resolve(P("chain", "f.txt")));
        Assert.Equal(Path.Combine(real, "c", "f.txt"), RealPath.Resolve(P("flink")));
        Assert.Equal(Path.Combine(real, "c"), RealPath.Resolve(P("a", "b", "toc")));
    }

    [Fact]
    public void Dot_dot_after_a_link_climbs_from_the_target_as_the_kernel_does()
    {
        string real = RealPath.Resolve(_root);
        // a/up → "..", i.e. the root itself; then c.
        Assert.Equal(Path.Combine(real, "c"), RealPath.Resolve(P("a", "up", "c")));
        // chain → c, and c/.. is the root, not a/b.
        Assert.Equal(real, RealPath.Resolve(P("chain", "..")));
    }

    [Fact]
    public void Missing_components_are_kept_and_loops_are_an_error()
    {
        string real = RealPath.Resolve(_root);
        Assert.Equal(Path.Combine(real, "c", "nope", "deeper"), RealPath.Resolve(P("chain", "nope", "deeper")));
        Assert.Throws<IOException>(() => RealPath.Resolve(P("loop1", "x")));
    }

    [Theory]
    [InlineData("/srv/adapters", "/srv/adapters", true)]
    [InlineData("/srv/adapters/x", "/srv/adapters", true)]
    [InlineData("/srv/adapters-evil/x", "/srv/adapters", false)]
    [InlineData("/srv", "/srv/adapters", false)]
    [InlineData("/srv/adapters/x", "/", true)]
    public void IsUnder_respects_component_boundaries(string path, string root, bool expected) => Assert.Equal(expected, RealPath.IsUnder(path, root));

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
