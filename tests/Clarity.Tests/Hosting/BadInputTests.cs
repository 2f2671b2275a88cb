using System.Net;
using System.Net.Http.Json;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Hosting;

/// <summary>
/// A corpus of bad requests fired at every route of the route table: malformed and mistyped JSON, missing,
/// oversized and mislabelled bodies, NUL characters, text that cannot be stored (unpaired surrogate escapes and
/// invalid UTF-8, in values and in property names), null list items, charsets other than UTF-8, out-of-range
/// numbers, unknown and foreign ids, and bad query values. Whatever the input, the answer is never a 500, every 4xx
/// is a complete problem+json document, and the org is not poisoned afterwards: its lists still read.
/// </summary>
public abstract class BadInputTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>
    where TFixture : BadInputFixture
{
    /// <summary>The request-body limit the fixture configures, so that "over the limit" stays cheap to send.</summary>
    public const int BodyLimit = 256 * 1024;

    private static readonly string[] s_bodyCases =
    [
        "malformed-json", "truncated-json", "wrong-types", "array-for-object", "scalar-body", "null-body", "empty-body",
        "empty-body-without-content-type", "text-plain", "over-limit", "deep-nesting", "huge-strings", "nul-characters",
        "negative-numbers", "huge-numbers", "overflowing-numbers", "extreme-dates", "duplicate-and-unknown-fields",
        "lone-surrogate-names", "invalid-utf8-names", "bogus-charset", "latin1-charset",
    ];

    /// <summary>
    /// Families aimed at one field at a time ("lone-surrogates:input"), the other fields plausible: a request fails as
    /// a whole, so bad text in every field at once would only ever test the first one read.
    /// </summary>
    private static readonly string[] s_textFieldCases = ["lone-surrogates", "invalid-utf8"];

    private static readonly string[] s_freeFormFieldCases = ["lone-surrogate-names", "invalid-utf8-names"];

    /// <summary>Stands in a generated body for the bad text that JsonNode cannot hold; replaced in the JSON text or bytes.</summary>
    private const string Marker = "@@BAD@@";

    private static readonly string[] s_queryCases =
    [
        "status=bogus", "cursor=garbage", "cursor=%00", "limit=-1", "limit=0", "limit=99999999999", "afterSeq=abc", "afterSeq=-5",
        "afterSeq=99999999999999999999", "waitSeconds=-1", "waitSeconds=99999999", "taskId=not-a-guid", "q=%00", "q=" + "x",
        "status=%00", "queue=%00", "agent=%00", "queue=" + "bad%20queue%20%2F%2F",
    ];

    /// <summary>Cases that need an {id}-like route parameter.</summary>
    private static readonly string[] s_idCases = ["unknown-ids", "other-org-ids", "non-guid-ids", "nul-in-path"];

    public static TheoryData<string, string> Rows
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var route in RouteTable.All)
            {
                if (route.BodyType is not null)
                {
                    foreach (var c in s_bodyCases)
                    {
                        data.Add(route.Key, c);
                    }

                    foreach (var property in BodyFields(route))
                    {
                        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
                        var name = JsonNamingPolicy.CamelCase.ConvertName(property.Name);
                        if (type == typeof(string) || type == typeof(Guid) || type == typeof(DateTimeOffset) || type == typeof(JsonElement) || IsList(type))
                        {
                            foreach (var c in s_textFieldCases)
                            {
                                data.Add(route.Key, c + ":" + name);
                            }
                        }

                        if (type == typeof(JsonElement))
                        {
                            foreach (var c in s_freeFormFieldCases)
                            {
                                data.Add(route.Key, c + ":" + name);
                            }
                        }

                        if (IsList(type))
                        {
                            data.Add(route.Key, "null-in-lists:" + name);
                        }
                    }

                    if (route.BodyIsArray)
                    {
                        data.Add(route.Key, "null-in-lists");
                    }
                }
                else if (route.HasBody)
                {
                    // A POST without a body parameter must ignore whatever it is sent.
                    data.Add(route.Key, "malformed-json");
                    data.Add(route.Key, "text-plain");
                    data.Add(route.Key, "over-limit");
                    data.Add(route.Key, "lone-surrogates");
                    data.Add(route.Key, "bogus-charset");
                }

                if (route.Method == "GET")
                {
                    foreach (var c in s_queryCases)
                    {
                        data.Add(route.Key, "query:" + c);
                    }
                }

                if (route.Parameters.Any(p => IsId(route, p)))
                {
                    foreach (var c in s_idCases)
                    {
                        data.Add(route.Key, c);
                    }
                }
            }

            return data;
        }
    }

    private ClarityHost Host => fixture.Host;

    /// <summary>True for a route parameter that names a resource by id ({id}, {userId}); false for {org} and names like {documentName}.</summary>
    private static bool IsId(ApiRoute route, string parameter) =>
        parameter != "org" && route.ResourceOf(parameter) is "tasks" or "clarifications" or "agents" or "api-keys" or "members" or "invitations" or "sessions" or "webhooks" or "runs"
            or "rosters" or "overrides" or "escalation-policies" or "escalations" or "notification-rules" or "push-subscriptions";

    [Theory]
    [MemberData(nameof(Rows))]
    public async Task BadRequest_NeverFails500_AndEvery4xxIsAProblem(string routeKey, string badCase)
    {
        var route = RouteTable.Find(routeKey);
        using var client = ClientFor(route);
        using var request = Build(route, badCase);
        using var response = await client.SendAsync(request);
        var status = (int)response.StatusCode;
        var body = await response.Content.ReadAsStringAsync();
        var what = $"{routeKey} [{badCase}] → {status} {Truncate(body)}";
        Assert.True(status < 500, what);
        if (status >= 400 && badCase != "nul-in-path")
        {
            // (Kestrel itself refuses a NUL in the path with a bare 400, before any middleware runs.)
            AssertProblem(response, body, status, what);
        }

        switch (badCase)
        {
            case "wrong-types" when route.BodyType is not null && IsFreeForm(route.BodyType):
                // Every field takes any JSON value ({payload}, {output}): there is no wrong type to send.
                break;
            case "malformed-json" or "truncated-json" or "wrong-types" or "array-for-object" or "scalar-body" or "deep-nesting" or "empty-body"
                when route.BodyType is not null:
                Assert.True(status == 400, what);
                break;
            case "null-body" when route.BodyType is not null:
                Assert.True(status is 400 or 404 or 409, what);
                break;
            case "text-plain" when route.BodyType is not null:
                Assert.True(status == 415, what);
                break;
            case "empty-body-without-content-type" when route.BodyType is not null:
                Assert.True(status is 400 or 415, what);
                break;
            case "over-limit" when route.BodyType is not null:
                Assert.True(status == 413, what);
                break;
            case "lone-surrogate-names" or "null-in-lists" when route.BodyType is not null:
                Assert.True(status == 400, what);
                break;
            case var aimed when aimed.Contains(':', StringComparison.Ordinal) && !aimed.StartsWith("query:", StringComparison.Ordinal):
                // Refused while the body is read, before any handler runs: nothing can be stored.
                Assert.True(status == 400, what);
                Assert.Contains("malformed-json", body, StringComparison.Ordinal);
                break;
            case "bogus-charset" or "latin1-charset" when route.BodyType is not null:
                Assert.True(status == 415, what);
                break;
            case "unknown-ids" or "other-org-ids" or "non-guid-ids" or "nul-in-path":
                // A foreign id is exactly as invisible as a missing one.
                Assert.True(status is 400 or 404, what);
                if (badCase != "nul-in-path" && (route.Method is "GET" or "DELETE" || Samples.ContainsKey(Suffix(route))))
                {
                    Assert.True(status == 404, what);
                }

                break;
        }

        if (route.HasBody)
        {
            await AssertOrgStillReadsAsync(what);
        }
    }

    /// <summary>Whatever a bad request did, the org's lists and its task still read: no row it left behind breaks them.</summary>
    private async Task AssertOrgStillReadsAsync(string after)
    {
        using var owner = Host.CreateClient(fixture.Own.OwnerToken);
        foreach (var path in new[] { "tasks", "clarifications", "agents", $"tasks/{fixture.OwnIds["tasks"]}", $"tasks/{fixture.OwnIds["tasks"]}/logs" })
        {
            using var response = await owner.GetAsync(fixture.Own.Api(path));
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path} answered {(int)response.StatusCode} after {after}");
        }
    }

    private static bool IsList(Type type) => type != typeof(string) && type.IsGenericType && typeof(System.Collections.IEnumerable).IsAssignableFrom(type);

    /// <summary>The fields of the endpoint's body object (of each item, for an array body).</summary>
    private static IEnumerable<PropertyInfo> BodyFields(ApiRoute route)
    {
        var type = route.BodyType!;
        if (route.BodyIsArray)
        {
            type = type.IsArray ? type.GetElementType()! : type.GetGenericArguments()[0];
            type = Nullable.GetUnderlyingType(type) ?? type;
        }

        return type.GetProperties(BindingFlags.Public | BindingFlags.Instance);
    }

    public static TheoryData<string> Routes => [.. RouteTable.All.Select(r => r.Key)];

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task WrongMethod_Is405Problem(string routeKey)
    {
        var route = RouteTable.Find(routeKey);
        using var client = ClientFor(route);
        // PATCH, unless the path serves PATCH itself (a webhook): then PUT.
        var method = RouteTable.All.Any(r => r.Pattern == route.Pattern && r.Method == "PATCH") ? HttpMethod.Put : HttpMethod.Patch;
        using var request = new HttpRequestMessage(method, route.Fill(p => p == "org" ? fixture.Own.Org : IsId(route, p) ? fixture.OwnIds[route.ResourceOf(p)!] : "v1"));
        await client.SendAsync(request).ExpectProblemAsync(HttpStatusCode.MethodNotAllowed, "method-not-allowed");
    }

    [Fact]
    public async Task MalformedJson_Is400NamingTheField()
    {
        using var client = Host.CreateClient(fixture.Own.OwnerToken);
        var problem = await client.PostAsync(fixture.Own.Api("tasks"), Json("""{"title": 5}"""))
            .ExpectProblemAsync(HttpStatusCode.BadRequest, "malformed-json");
        Assert.True(problem.GetProperty("errors").TryGetProperty("title", out _), problem.ToString());
        Assert.Contains("title", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        problem = await client.PostAsync(fixture.Own.Api("tasks"), Json("""{"title": "t", "labels": {"a": 1}}"""))
            .ExpectProblemAsync(HttpStatusCode.BadRequest, "malformed-json");
        Assert.True(problem.GetProperty("errors").TryGetProperty("labels", out _), problem.ToString());

        await client.PostAsync(fixture.Own.Api("tasks"), Json("""{"title": "t",""")).ExpectProblemAsync(HttpStatusCode.BadRequest, "malformed-json");
    }

    [Fact]
    public async Task BodyOverTheLimit_Is413()
    {
        using var client = Host.CreateClient(fixture.Own.OwnerToken);
        var body = $$"""{"title": "{{new string('x', BodyLimit + 1024)}}"}""";
        await client.PostAsync(fixture.Own.Api("tasks"), Json(body)).ExpectProblemAsync(HttpStatusCode.RequestEntityTooLarge, "too-large");
    }

    [Fact]
    public async Task UnknownOrForeignTaskId_Is404()
    {
        using var client = Host.CreateClient(fixture.Own.OwnerToken);
        await client.GetAsync(fixture.Own.Api($"tasks/{Guid.NewGuid()}")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await client.GetAsync(fixture.Own.Api($"tasks/{fixture.OtherIds["tasks"]}")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await client.GetAsync(fixture.Own.Api("tasks/not-a-guid")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await client.PostAsync(fixture.Own.Api($"tasks/{fixture.OtherIds["tasks"]}/logs"), Json("""[{"text": "sneaky"}]"""))
            .ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await client.PostAsync(fixture.Own.Api($"clarifications/{fixture.OtherIds["clarifications"]}/answer"), Json("""{"answer": "sneaky"}"""))
            .ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task WrongContentType_Is415()
    {
        using var client = Host.CreateClient(fixture.Own.OwnerToken);
        using var content = new StringContent("""{"title": "t"}""", Encoding.UTF8, "text/plain");
        await client.PostAsync(fixture.Own.Api("tasks"), content).ExpectProblemAsync(HttpStatusCode.UnsupportedMediaType, "unsupported-media-type");
    }

    [Fact]
    public async Task InvalidQueryValues_Are400()
    {
        using var client = Host.CreateClient(fixture.Own.OwnerToken);
        await client.GetAsync(fixture.Own.Api("tasks?status=bogus")).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        await client.GetAsync(fixture.Own.Api("tasks?limit=-1")).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        await client.GetAsync(fixture.Own.Api("tasks?cursor=garbage")).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        await client.GetAsync(fixture.Own.Api($"tasks/{fixture.OwnIds["tasks"]}/logs?afterSeq=abc")).ExpectProblemAsync(HttpStatusCode.BadRequest);
        await client.GetAsync(fixture.Own.Api($"clarifications/{fixture.OwnIds["clarifications"]}?waitSeconds=-1")).ExpectProblemAsync(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task NulCharacters_AreRefusedOrKept_NeverFail()
    {
        using var client = Host.CreateClient(fixture.Own.OwnerToken);
        await client.PostAsync(fixture.Own.Api("tasks"), Json("""{"title": "a\u0000b"}""")).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        using var response = await client.PostAsync(fixture.Own.Api("tasks"), Json("""{"title": "nul input", "input": {"k\u0000": "a\u0000b"}}"""));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode is 201 or 400, body);
        if (response.StatusCode == HttpStatusCode.Created)
        {
            var id = JsonDocument.Parse(body).RootElement.GetProperty("id").GetString();
            var task = await client.GetAsync(fixture.Own.Api($"tasks/{id}")).ExpectAsync(HttpStatusCode.OK);
            Assert.Equal(JsonValueKind.Object, task.GetProperty("input").ValueKind);
        }
    }

    private HttpClient ClientFor(ApiRoute route) => route.Access switch
    {
        AccessKind.Public => Host.CreateClient(),
        _ => Host.CreateClient(fixture.Own.OwnerToken),
    };

    private HttpRequestMessage Build(ApiRoute route, string badCase)
    {
        Func<string, string> id = badCase switch
        {
            "unknown-ids" => _ => Guid.NewGuid().ToString(),
            "other-org-ids" => p => fixture.OtherIds[route.ResourceOf(p)!],
            "non-guid-ids" => _ => "12345",
            "nul-in-path" => _ => "\0",
            _ => p => fixture.OwnIds[route.ResourceOf(p)!],
        };
        var path = route.Fill(p => p == "org" ? fixture.Own.Org : IsId(route, p) ? id(p) : "v1");
        if (badCase.StartsWith("query:", StringComparison.Ordinal))
        {
            path += "?" + badCase["query:".Length..];
        }

        var request = new HttpRequestMessage(new HttpMethod(route.Method), path);
        if (!route.HasBody)
        {
            return request;
        }

        request.Content = badCase switch
        {
            "unknown-ids" or "other-org-ids" or "non-guid-ids" or "nul-in-path" => Json(Samples.GetValueOrDefault(Suffix(route), route.BodyIsArray ? "[]" : "{}")),
            "malformed-json" => Json("{\"title\": 'single quotes', }"),
            "truncated-json" => Json(route.BodyIsArray ? "[{\"text\": \"abc" : "{\"title\": \"abc"),
            "wrong-types" => Json(Generate(route, Mode.WrongTypes)),
            "array-for-object" => Json(route.BodyIsArray ? "{\"text\": \"x\"}" : "[{}]"),
            "scalar-body" => Json("42"),
            "null-body" => Json("null"),
            "empty-body" => Json(""),
            "empty-body-without-content-type" => new ByteArrayContent([]),
            "text-plain" => new StringContent(route.BodyType is null ? "{}" : Generate(route, Mode.Plausible), Encoding.UTF8, "text/plain"),
            "over-limit" => Json(route.BodyIsArray
                ? $$"""[{"text": "{{new string('x', BodyLimit + 1024)}}"}]"""
                : $$"""{"title": "{{new string('x', BodyLimit + 1024)}}"}"""),
            "deep-nesting" => Json(route.BodyIsArray
                ? new string('[', 5000) + new string(']', 5000)
                : "{\"input\": " + new string('[', 5000) + new string(']', 5000) + "}"),
            "huge-strings" => Json(Generate(route, Mode.Huge)),
            "nul-characters" => Json(Generate(route, Mode.Nul)),
            "negative-numbers" => Json(Generate(route, Mode.Negative)),
            "huge-numbers" => Json(Generate(route, Mode.HugeNumbers)),
            "overflowing-numbers" => Json(Generate(route, Mode.Overflow)),
            "extreme-dates" => Json(Generate(route, Mode.ExtremeDates)),
            "duplicate-and-unknown-fields" => Json(route.BodyIsArray
                ? "[{\"text\": \"a\", \"text\": \"b\", \"nope\": 1}]"
                : "{\"title\": \"a\", \"title\": \"b\", \"nope\": {\"deep\": [1, 2]}}"),
            "lone-surrogates" => Json($$"""{"{{Marker}}": "{{Marker}}"}""".Replace(Marker, "\\ud800", StringComparison.Ordinal)),
            "lone-surrogate-names" => Json(Generate(route, Mode.BadNames).Replace(Marker, "\\udc00", StringComparison.Ordinal)),
            "invalid-utf8-names" => JsonBytes(Generate(route, Mode.BadNames), [0xED, 0xA0, 0x80]),
            "null-in-lists" => Json("[null]"),
            _ when badCase.StartsWith("lone-surrogates:", StringComparison.Ordinal) =>
                Json(Generate(route, Mode.BadText, Field(badCase)).Replace(Marker, "\\ud800", StringComparison.Ordinal)),
            _ when badCase.StartsWith("invalid-utf8:", StringComparison.Ordinal) => JsonBytes(Generate(route, Mode.BadText, Field(badCase)), [0xFF, 0xFE]),
            _ when badCase.StartsWith("lone-surrogate-names:", StringComparison.Ordinal) =>
                Json(Generate(route, Mode.BadNames, Field(badCase)).Replace(Marker, "\\udc00", StringComparison.Ordinal)),
            _ when badCase.StartsWith("invalid-utf8-names:", StringComparison.Ordinal) => JsonBytes(Generate(route, Mode.BadNames, Field(badCase)), [0xC3]),
            _ when badCase.StartsWith("null-in-lists:", StringComparison.Ordinal) => Json(Generate(route, Mode.NullItems, Field(badCase))),
            "bogus-charset" => WithContentType(route.BodyType is null ? "{}" : Generate(route, Mode.Plausible), "application/json; charset=bogus"),
            "latin1-charset" => WithContentType(Generate(route, Mode.Plausible), "application/json; charset=iso-8859-1"),
            _ => Json("{}"),
        };
        return request;
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static string Field(string badCase) => badCase[(badCase.IndexOf(':', StringComparison.Ordinal) + 1)..];

    private static ByteArrayContent WithContentType(string body, string contentType)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        return content;
    }

    /// <summary>The body as UTF-8 with every <see cref="Marker"/> replaced by <paramref name="bad"/> bytes.</summary>
    private static ByteArrayContent JsonBytes(string body, byte[] bad)
    {
        var parts = body.Split(Marker);
        var bytes = new List<byte>();
        for (var i = 0; i < parts.Length; i++)
        {
            if (i > 0)
            {
                bytes.AddRange(bad);
            }

            bytes.AddRange(Encoding.UTF8.GetBytes(parts[i]));
        }

        var content = new ByteArrayContent([.. bytes]);
        content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        return content;
    }

    private static void AssertProblem(HttpResponseMessage response, string body, int status, string what)
    {
        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json", $"not problem+json: {what}");
        var json = JsonDocument.Parse(body).RootElement;
        Assert.True(json.TryGetProperty("type", out var type) && type.GetString()!.StartsWith("urn:clarity:problem:", StringComparison.Ordinal), what);
        Assert.True(json.TryGetProperty("title", out var title) && !string.IsNullOrEmpty(title.GetString()), what);
        Assert.True(json.TryGetProperty("status", out var s) && s.GetInt32() == status, what);
    }

    private static string Truncate(string body) => body.Length > 400 ? body[..400] + "…" : body;

    /// <summary>The route after "{org}", e.g. "/tasks/{id:guid}/heartbeat".</summary>
    private static string Suffix(ApiRoute route)
    {
        var at = route.Pattern.IndexOf("{org}", StringComparison.Ordinal);
        return route.Method + " " + (at < 0 ? route.Pattern : route.Pattern[(at + "{org}".Length)..]);
    }

    /// <summary>Bodies that pass validation, so that the id in the path is what decides the answer.</summary>
    private static readonly Dictionary<string, string> Samples = new()
    {
        ["POST /tasks/{id:guid}/heartbeat"] = """{"leaseToken": "not-the-lease"}""",
        ["POST /tasks/{id:guid}/complete"] = """{"leaseToken": "not-the-lease", "output": {}}""",
        ["POST /tasks/{id:guid}/fail"] = """{"leaseToken": "not-the-lease", "error": "boom"}""",
        ["POST /tasks/{id:guid}/cancel"] = "{}",
        ["POST /tasks/{id:guid}/logs"] = """[{"text": "sneaky"}]""",
        ["POST /tasks/{id:guid}/clarifications"] = """{"leaseToken": "not-the-lease", "question": "q?", "expiresInSeconds": 60, "onExpiry": "fail"}""",
        ["POST /clarifications/{id:guid}/answer"] = """{"answer": "sneaky"}""",
        ["PUT /members/{userId:guid}"] = """{"role": "viewer"}""",
        ["PATCH /webhooks/{id:guid}"] = """{"description": "sneaky"}""",
    };

    private enum Mode
    {
        Plausible,
        WrongTypes,
        Huge,
        Nul,
        Negative,
        HugeNumbers,
        Overflow,
        ExtremeDates,

        /// <summary>The aimed field's text (a string, a list item, a string inside free-form JSON) holds <see cref="Marker"/>.</summary>
        BadText,

        /// <summary>A property named <see cref="Marker"/>: inside the aimed free-form field, or in the body itself when none is aimed at.</summary>
        BadNames,

        /// <summary>The aimed list holds a null item.</summary>
        NullItems,
    }

    /// <summary>Builds a body from the endpoint's request type, giving every field a value of the kind the mode asks for.</summary>
    /// <summary>True for a body whose every field is free-form JSON.</summary>
    private static bool IsFreeForm(Type body) =>
        body.GetProperties(BindingFlags.Public | BindingFlags.Instance).All(p => (Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType) == typeof(JsonElement));

    private static string Generate(ApiRoute route, Mode mode, string? aimed = null)
    {
        var type = route.BodyType!;
        if (route.BodyIsArray)
        {
            var element = type.IsArray ? type.GetElementType()! : type.GetGenericArguments()[0];
            return new JsonArray(ObjectFor(element, mode, aimed), ObjectFor(element, mode, aimed)).ToJsonString();
        }

        return ObjectFor(type, mode, aimed).ToJsonString();
    }

    /// <summary>An object of the type with every field in <paramref name="mode"/>, or only the <paramref name="aimed"/> one (the rest plausible).</summary>
    private static JsonObject ObjectFor(Type type, Mode mode, string? aimed)
    {
        var obj = new JsonObject();
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var name = JsonNamingPolicy.CamelCase.ConvertName(property.Name);
            obj[name] = ValueFor(Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType, name, aimed is null || aimed == name ? mode : Mode.Plausible);
        }

        if (mode == Mode.BadNames && aimed is null)
        {
            obj[Marker] = 1;
        }

        return obj;
    }

    private static JsonNode? ValueFor(Type t, string name, Mode mode)
    {
        var huge = new string('x', 20_000);
        if (t == typeof(string))
        {
            return mode switch
            {
                Mode.WrongTypes => 5,
                Mode.Huge => huge,
                Mode.Nul => "a\0b",
                Mode.BadText => "a" + Marker + "b",
                _ => name == "role" ? "viewer" : name == "onExpiry" ? "fail" : "plausible",
            };
        }

        if (t == typeof(int) || t == typeof(long))
        {
            return mode switch
            {
                Mode.WrongTypes => "many",
                Mode.Negative => -1,
                Mode.HugeNumbers => t == typeof(int) ? int.MaxValue : long.MaxValue,
                Mode.Overflow => JsonNode.Parse("99999999999999999999999999999"),
                _ => 1,
            };
        }

        if (t == typeof(bool))
        {
            return mode == Mode.WrongTypes ? "yes" : true;
        }

        if (t == typeof(Guid))
        {
            return mode switch
            {
                Mode.WrongTypes => 5,
                Mode.Nul => "\0",
                Mode.BadText => Marker,
                _ => Guid.NewGuid().ToString(),
            };
        }

        if (t == typeof(DateTimeOffset))
        {
            return mode switch
            {
                Mode.WrongTypes => 5,
                Mode.Negative or Mode.ExtremeDates => "0001-01-01T00:00:00+00:00",
                Mode.HugeNumbers => "9999-12-31T23:59:59.9999999+00:00",
                Mode.BadText => Marker,
                _ => DateTimeOffset.UtcNow.ToString("O"),
            };
        }

        if (t == typeof(JsonElement))
        {
            return mode switch
            {
                Mode.Nul => new JsonObject { ["k\0"] = "a\0b" },
                Mode.Huge => new JsonObject { ["big"] = huge },
                Mode.HugeNumbers or Mode.Overflow => JsonNode.Parse("1e400"),
                Mode.BadText => new JsonObject { ["ok"] = "fine", ["k"] = new JsonArray(1, new JsonObject { ["deep"] = "x" + Marker }) },
                Mode.BadNames => new JsonObject { ["ok"] = 1, [Marker] = new JsonObject { [Marker + "2"] = 1 } },
                _ => new JsonObject { ["n"] = 1 },
            };
        }

        if (t != typeof(string) && t.IsGenericType && typeof(System.Collections.IEnumerable).IsAssignableFrom(t))
        {
            return mode switch
            {
                Mode.WrongTypes => new JsonObject { ["a"] = 1 },
                Mode.Huge => new JsonArray([.. Enumerable.Range(0, 2_000).Select(i => (JsonNode)JsonValue.Create($"v{i}"))]),
                Mode.Nul => new JsonArray("a\0b"),
                Mode.BadText => new JsonArray("fine", Marker),
                Mode.NullItems => new JsonArray("fine", null),
                _ => new JsonArray("plausible"),
            };
        }

        return null;
    }
}

/// <summary>Two orgs, each with a running task, a pending clarification, an agent, an API key, a member and a waiting workflow run to aim bad requests at.</summary>
public abstract class BadInputFixture(Backend backend) : TwoOrgFixture(backend, RateLimitsOff.With(new Dictionary<string, string?>
{
    ["Clarity:Limits:MaxRequestBodyBytes"] = (256 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
}))
{
    /// <summary>Ids in the own org, by the path segment that names them ("tasks", "clarifications", "agents", "api-keys", "members", "invitations", "sessions": a member's, "webhooks").</summary>
    public IReadOnlyDictionary<string, string> OwnIds { get; private set; } = null!;

    /// <summary>The same kinds of ids in the other org.</summary>
    public IReadOnlyDictionary<string, string> OtherIds { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        OwnIds = await CreateResourcesAsync(Own);
        OtherIds = await CreateResourcesAsync(Other);
    }

    private async Task<IReadOnlyDictionary<string, string>> CreateResourcesAsync(OrgSession org)
    {
        using var owner = Host.CreateClient(org.OwnerToken);
        var task = await owner.PostAsJsonAsync(org.Api("tasks"), new { queue = "bad-input", title = "target" }).ExpectAsync(HttpStatusCode.Created);
        var taskId = task.GetProperty("id").GetString()!;
        var lease = await owner.PostAsJsonAsync(org.Api("work/checkout"), new { agent = "agent-" + org.Org, queues = new[] { "bad-input" }, taskId })
            .ExpectAsync(HttpStatusCode.OK);
        var clarification = await owner.PostAsJsonAsync(org.Api($"tasks/{taskId}/clarifications"),
            new { leaseToken = lease.GetProperty("leaseToken").GetString(), question = "which?", expiresInSeconds = 3600, onExpiry = "fail" })
            .ExpectAsync(HttpStatusCode.Created);
        var agents = await owner.GetAsync(org.Api("agents")).ExpectAsync(HttpStatusCode.OK);
        var key = await owner.PostAsJsonAsync(org.Api("api-keys"), new { name = "throwaway", role = "viewer" }).ExpectAsync(HttpStatusCode.Created);
        var member = await Host.AddPersonAsync(org, "viewer", $"member@{org.Org}.example");
        var invitation = await Host.InviteAsync(org, $"invited@{org.Org}.example", "viewer");
        // A public address literal (no private networks here), subscribed to an event these tests never raise.
        var webhook = await owner.PostAsJsonAsync(org.Api("webhooks"), new { url = "https://203.0.113.10/hook", events = new[] { "webhook.disabled" } }).ExpectAsync(HttpStatusCode.Created);
        using var person = Host.CreateClient(member.Token);
        var session = (await person.GetAsync("api/v1/me/sessions").ExpectAsync(HttpStatusCode.OK)).GetProperty("items")[0];
        // A run that waits (its one step is named like the other path values, v1) for a signal these tests never send.
        await owner.PostAsync(org.Api("workflows"), new StringContent("name: v1\nsteps:\n  - { id: v1, kind: wait, signal: hold }\n", System.Text.Encoding.UTF8, "application/yaml"))
            .ExpectAsync(HttpStatusCode.Created);
        var run = await owner.PostAsJsonAsync(org.Api("workflows/v1/runs"), new { input = new { } }).ExpectAsync(HttpStatusCode.Created);
        var roster = await owner.PostAsJsonAsync(org.Api("oncall/rosters"),
            new { name = "primary", timeZone = "Etc/UTC", handoff = "daily", handoffTime = "09:00", startDate = "2026-01-01", members = new[] { member.UserId } })
            .ExpectAsync(HttpStatusCode.Created);
        var rosterId = roster.GetProperty("id").GetString()!;
        var rosterOverride = await owner.PostAsJsonAsync(org.Api($"oncall/rosters/{rosterId}/overrides"), new { userId = member.UserId, from = "2026-01-01T00:00:00Z", to = "2026-01-02T00:00:00Z" })
            .ExpectAsync(HttpStatusCode.Created);
        var policy = await owner.PostAsJsonAsync(org.Api("escalation-policies"), new { name = "page", levels = new[] { new { targets = new { rosters = new[] { rosterId } }, delayMinutes = 60 } } })
            .ExpectAsync(HttpStatusCode.Created);
        var drill = await owner.PostAsync(org.Api($"escalation-policies/{policy.GetProperty("id").GetString()}/drill"), null).ExpectAsync(HttpStatusCode.Created);
        // An org rule (its id is aimed at as /me/notification-rules/{id} too), and the member's device (both orgs have the
        // same owner, so the other org's device must be someone else's to be foreign).
        var rule = await owner.PostAsJsonAsync(org.Api("notification-rules"), new { events = new[] { "task.failed" }, channels = new object[] { new { type = "email", to = new[] { $"ops@{org.Org}.example" } } } })
            .ExpectAsync(HttpStatusCode.Created);
        using var device = System.Security.Cryptography.ECDiffieHellman.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var point = device.ExportParameters(false).Q;
        var subscription = await person.PostAsJsonAsync("api/v1/me/push-subscriptions", new
        {
            endpoint = $"https://203.0.113.10/push/{org.Org}",
            keys = new
            {
                p256dh = System.Buffers.Text.Base64Url.EncodeToString([0x04, .. point.X!, .. point.Y!]),
                auth = System.Buffers.Text.Base64Url.EncodeToString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)),
            },
        }).ExpectAsync(HttpStatusCode.Created);
        return new Dictionary<string, string>
        {
            ["rosters"] = rosterId,
            ["overrides"] = rosterOverride.GetProperty("id").GetString()!,
            ["escalation-policies"] = policy.GetProperty("id").GetString()!,
            ["escalations"] = drill.GetProperty("id").GetString()!,
            ["tasks"] = taskId,
            ["clarifications"] = clarification.GetProperty("id").GetString()!,
            ["agents"] = agents.GetProperty("items")[0].GetProperty("id").GetString()!,
            ["api-keys"] = key.GetProperty("id").GetString()!,
            ["members"] = member.UserId.ToString(),
            ["invitations"] = invitation.GetProperty("id").GetString()!,
            ["sessions"] = session.GetProperty("id").GetString()!,
            ["webhooks"] = webhook.GetProperty("id").GetString()!,
            ["runs"] = run.GetProperty("id").GetString()!,
            ["notification-rules"] = rule.GetProperty("id").GetString()!,
            ["push-subscriptions"] = subscription.GetProperty("id").GetString()!,
        };
    }
}

public sealed class SqliteBadInputFixture() : BadInputFixture(Backend.Sqlite);

public sealed class PostgresBadInputFixture() : BadInputFixture(Backend.Postgres);

public sealed class SqliteBadInputTests(SqliteBadInputFixture fixture) : BadInputTests<SqliteBadInputFixture>(fixture);

public sealed class PostgresBadInputTests(PostgresBadInputFixture fixture) : BadInputTests<PostgresBadInputFixture>(fixture);
