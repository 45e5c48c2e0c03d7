using System.Text;
using System.Text.Json;
using LoraServe.Models.Tokenization;

namespace LoraServe.Models.Tests.Tokenization;

public class UnicodeNormalizationTests
{
    [Fact]
    public void All_forms_match_ICU_goldens()
    {
        // tests/fixtures/tokenizers/normalization.json: String.prototype.normalize in node (ICU).
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TokenizerFixtures.Root, "normalization.json"), Encoding.UTF8));
        var failures = new StringBuilder();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            string text = c.GetProperty("text").GetString()!;
            foreach (var (field, form) in new[] { ("nfc", NormalizationForm.FormC), ("nfd", NormalizationForm.FormD), ("nfkc", NormalizationForm.FormKC), ("nfkd", NormalizationForm.FormKD) })
            {
                string expected = c.GetProperty(field).GetString()!;
                string actual = UnicodeNormalization.Normalize(text, form);
                if (actual != expected) failures.AppendLine($"{field}({TokenizerFixtures.Show(text)}): expected {TokenizerFixtures.Show(expected)} got {TokenizerFixtures.Show(actual)}");
            }
        }
        Assert.True(failures.Length == 0, failures.ToString());
    }
}
