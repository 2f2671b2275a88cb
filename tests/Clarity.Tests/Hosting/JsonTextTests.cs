using System.Text;
using System.Text.Json;
using Clarity.Hosting;
using Xunit;

namespace Clarity.Tests.Hosting;

/// <summary>The rules for text inside free-form JSON, and the repair of stored JSON, without a host.</summary>
public sealed class JsonTextTests
{
    [Theory]
    [InlineData("""{"a": "plain"}""")]
    [InlineData("""{"a": "pair \ud83d\ude00 and é \u00e9"}""")]
    [InlineData("""{"a": ["x", {"b": "\\ud800 is an escaped backslash, not an escape"}]}""")]
    [InlineData("""{"\ud83d\ude00": 1, "n": null, "t": true, "x": 1.5}""")]
    [InlineData("""{"nul": "a\u0000b"}""")]
    public void FindInvalidText_WhenEveryStringIsUnicode_FindsNothing(string json)
    {
        using var document = JsonDocument.Parse(json);
        Assert.Null(JsonText.FindInvalidText(document.RootElement));
    }

    [Theory]
    [InlineData("""{"a": "\ud800"}""", ".a")]
    [InlineData("""{"a": "x\udc00y"}""", ".a")]
    [InlineData("""{"a": "\ud800\u0041"}""", ".a")]
    [InlineData("""{"a": "\ud800\ud800"}""", ".a")]
    [InlineData("""{"a": [1, {"b": "\ud800"}]}""", ".a[1].b")]
    [InlineData("""{"a": {"\udfff": 1}}""", ".a")]
    [InlineData("""["ok", "\ud800"]""", "[1]")]
    [InlineData(""" "\ud800" """, "")]
    public void FindInvalidText_FindsAnUnpairedSurrogateEscape_AndSaysWhere(string json, string where)
    {
        using var document = JsonDocument.Parse(json);
        Assert.Equal(where, JsonText.FindInvalidText(document.RootElement));
    }

    [Fact]
    public void FindInvalidText_FindsInvalidUtf8_InValuesAndPropertyNames()
    {
        byte[] Bytes(string before, byte[] bad, string after) => [.. Encoding.UTF8.GetBytes(before), .. bad, .. Encoding.UTF8.GetBytes(after)];

        using var value = JsonDocument.Parse(Bytes("""{"a": {"b": "x""", [0xFF], "\"}}"));
        Assert.Equal(".a.b", JsonText.FindInvalidText(value.RootElement));

        // An encoded surrogate (CESU-8 style) is not UTF-8 either.
        using var surrogate = JsonDocument.Parse(Bytes("""["x""", [0xED, 0xA0, 0x80], "\"]"));
        Assert.Equal("[0]", JsonText.FindInvalidText(surrogate.RootElement));

        using var name = JsonDocument.Parse(Bytes("""{"a": {"k""", [0xC3], "\": 1}}"));
        Assert.Equal(".a", JsonText.FindInvalidText(name.RootElement));
    }

    [Theory]
    [InlineData("""{"a":"\ud800"}""", """{"a":"\uFFFD"}""")]
    [InlineData("""{"a":"x\udc00\ud800y"}""", """{"a":"x\uFFFD\uFFFDy"}""")]
    [InlineData("""{"\uD800":"\uDBFF\u0041"}""", """{"\uFFFD":"\uFFFD\u0041"}""")]
    [InlineData("""["\ud800\ud83d\ude00"]""", """["\uFFFD\ud83d\ude00"]""")]
    [InlineData("[\"\\ud800\"", "[\"\\uFFFD\"")]
    public void ReplaceLoneSurrogateEscapes_ReplacesOnlyUnpairedOnes(string stored, string repaired) =>
        Assert.Equal(repaired, JsonText.ReplaceLoneSurrogateEscapes(stored));

    [Theory]
    [InlineData("""{"a":"plain"}""")]
    [InlineData("""{"a":"\ud83d\ude00"}""")]
    [InlineData("""{"a":"\\ud800"}""")]
    [InlineData("""{"a":"\\\\\ud83d\ude00"}""")]
    [InlineData("""{"a":"\u12"}""")]
    public void ReplaceLoneSurrogateEscapes_LeavesValidTextAlone(string stored) =>
        Assert.Same(stored, JsonText.ReplaceLoneSurrogateEscapes(stored));

    [Fact]
    public void ParseStored_ReadsAPoisonedRow_WithTheReplacementCharacter()
    {
        var element = JsonText.ParseStored("""{"a":"x\ud800y","b":[1]}""")!.Value;
        Assert.Equal("x\uFFFDy", element.GetProperty("a").GetString());
        Assert.Equal("{\"a\":\"x\uFFFDy\",\"b\":[1]}", JsonSerializer.Serialize(element, JsonDefaults.Options));
    }

    [Fact]
    public void ParseStored_KeepsTextThatIsNotJson_AsAString()
    {
        Assert.Null(JsonText.ParseStored(null));
        Assert.Equal("not json {", JsonText.ParseStored("not json {")!.Value.GetString());
    }

    [Fact]
    public void Serializer_RefusesNullItemsInNonNullableLists_ButNotInNullableOnes()
    {
        var error = Assert.Throws<JsonFieldException>(() => JsonSerializer.Deserialize<Lists>("""{"names": ["a", null]}""", JsonDefaults.Options));
        Assert.Equal(".names[1]", error.InnerPath);
        Assert.Equal(new string?[] { null, "b" }, JsonSerializer.Deserialize<Lists>("""{"maybe": [null, "b"]}""", JsonDefaults.Options)!.Maybe);
    }

    [Fact]
    public void Serializer_RefusesFreeFormJsonWithInvalidText_NamingThePlace()
    {
        var error = Assert.Throws<JsonFieldException>(() => JsonSerializer.Deserialize<Lists>("""{"data": {"k": ["\ud800"]}}""", JsonDefaults.Options));
        Assert.Equal("$.data", error.Path);
        Assert.Equal(".k[0]", error.InnerPath);
    }

    private sealed record Lists(IReadOnlyList<string>? Names, IReadOnlyList<string?>? Maybe, JsonElement? Data);
}
