using System.Security.Cryptography;
using System.Text;

namespace LoraServe.Server.Auth;

/// <summary>
/// Maps the bearer key of a request to a <see cref="CallerIdentity"/>. Keys are held only as
/// SHA-256 digests and looked up by digest, so the lookup's timing depends on the digest of the
/// presented key, which an attacker cannot steer toward a stored one byte by byte.
/// Modes: open (no keys configured: everyone is <see cref="CallerIdentity.Default"/>), vLLM's
/// single --api-key (the key holder is the default tenant and admin), or a tenants file.
/// </summary>
public sealed class ApiKeyAuthenticator
{
    private readonly Dictionary<string, CallerIdentity>? _byDigest;

    private ApiKeyAuthenticator(Dictionary<string, CallerIdentity>? byDigest) => _byDigest = byDigest;

    public bool IsOpen => _byDigest is null;

    public static ApiKeyAuthenticator Open() => new(null);

    public static ApiKeyAuthenticator SingleKey(string apiKey)
    {
        if (string.IsNullOrEmpty(apiKey)) throw new ArgumentException("--api-key must not be empty");
        return new(new Dictionary<string, CallerIdentity>(StringComparer.Ordinal) { [Digest(apiKey)] = CallerIdentity.Default });
    }

    public static ApiKeyAuthenticator FromTenants(TenantsFile file)
    {
        var map = new Dictionary<string, CallerIdentity>(StringComparer.Ordinal);
        // Admins may also generate (as tenant "admin", every model) so an operator can check an adapter they just loaded.
        var admin = new CallerIdentity("admin", true, null, true);
        foreach (var k in file.AdminKeys) map[Digest(k)] = admin;
        foreach (var t in file.Tenants)
        {
            var identity = new CallerIdentity(t.Name, t.BaseModel, t.Adapters, false);
            foreach (var k in t.ApiKeys) map[Digest(k)] = identity;
        }
        return new(map);
    }

    /// <summary>The caller for an Authorization header value, or null if the key is missing or unknown.</summary>
    public CallerIdentity? Authenticate(string? authorization)
    {
        if (_byDigest is null) return CallerIdentity.Default;
        const string scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return null;
        string key = authorization[scheme.Length..].Trim();
        return key.Length == 0 ? null : _byDigest.GetValueOrDefault(Digest(key));
    }

    private static string Digest(string key) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
}
