using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Workflows;

/// <summary>
/// The dry-run check of a workflow definition (<c>POST …/workflows/validate</c>) and the shipped templates
/// (<c>GET …/workflow-templates</c>): what the dashboard's editor calls as you type.
/// </summary>
public abstract class WorkflowValidateTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>
    where TFixture : HostFixture
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    private const string When = "${{ steps.draft.output.ok }}";

    private static string Definition(string name, string needs = "[draft]") => $"""
        name: {name}
        description: Draft, then review.
        steps:
          - id: draft
            kind: task
            queue: writing
            title: Draft
          - id: review
            kind: task
            queue: review
            needs: {needs}
            when: {When}
            title: Review
        """;

    private static HttpContent Yaml(string text, string mediaType = "application/yaml") =>
        new StringContent(text, Encoding.UTF8, new MediaTypeHeaderValue(mediaType));

    private Task<HttpResponseMessage> ValidateAsync(HttpClient client, string yaml, OrgSession? org = null) =>
        client.PostAsync((org ?? Org).Api("workflows/validate"), Yaml(yaml));

    [Fact]
    public async Task Validate_ValidDefinition_AsAViewer_Answers200WithTheStepsWhereTheyStart_AndStoresNothing()
    {
        using var viewer = Host.CreateClient(Org.Keys["viewer"]);
        var name = Work.Unique("wf").ToLowerInvariant();

        var answer = await ValidateAsync(viewer, Definition(name)).ExpectAsync(HttpStatusCode.OK);

        Assert.True(answer.GetProperty("valid").GetBoolean());
        Assert.Equal((name, "Draft, then review."), (answer.Str("name"), answer.Str("description")));
        Assert.Equal(0, answer.GetProperty("problems").GetArrayLength());
        var steps = answer.GetProperty("steps").EnumerateArray().ToList();
        Assert.Equal(["draft", "review"], steps.Select(s => s.Str("id")));
        Assert.Equal(("task", 4, 5), (steps[0].Str("kind"), steps[0].GetProperty("line").GetInt32(), steps[0].GetProperty("column").GetInt32()));
        Assert.Equal(["draft"], steps[1].GetProperty("needs").EnumerateArray().Select(n => n.GetString()));
        Assert.Equal(8, steps[1].GetProperty("line").GetInt32());
        Assert.Equal(When, steps[1].Str("when"));
        Assert.Equal(0, steps[0].GetProperty("needs").GetArrayLength());

        await viewer.GetAsync(Org.Api($"workflows/{name}")).ExpectProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Validate_InvalidDefinition_Answers200NotValid_ListingEveryProblemWithLineAndColumn()
    {
        using var member = Host.CreateClient(Org.MemberKey);
        var yaml = Definition(Work.Unique("wf").ToLowerInvariant(), needs: "[drafts]") + """

              - id: review
                kind: teleport
            """;

        var answer = await ValidateAsync(member, yaml).ExpectAsync(HttpStatusCode.OK);

        Assert.False(answer.GetProperty("valid").GetBoolean());
        Assert.False(answer.TryGetProperty("steps", out var steps) && steps.ValueKind != System.Text.Json.JsonValueKind.Null);
        var problems = answer.GetProperty("problems").EnumerateArray().ToList();
        Assert.Equal(problems.Count, answer.GetProperty("problemCount").GetInt32());
        var unknown = Assert.Single(problems, p => p.Str("code") == "unknown-need");
        Assert.Equal((11, 13, "steps[1].needs[0]"), (unknown.GetProperty("line").GetInt32(), unknown.GetProperty("column").GetInt32(), unknown.Str("path")));
        Assert.Contains("drafts", unknown.Str("message"), StringComparison.Ordinal);
        Assert.Contains(problems, p => p.Str("code") == "duplicate-step" && p.GetProperty("line").GetInt32() == 14);
        Assert.Contains(problems, p => p.Str("code") == "unknown-kind" && p.GetProperty("line").GetInt32() == 15);

        var syntax = await ValidateAsync(member, "name: [unclosed").ExpectAsync(HttpStatusCode.OK);
        Assert.False(syntax.GetProperty("valid").GetBoolean());
        Assert.Equal("yaml-syntax", syntax.GetProperty("problems")[0].Str("code"));
    }

    [Fact]
    public async Task Validate_WithThousandsOfProblems_ListsTheFirstThousand_AndCountsThemAll()
    {
        using var admin = Host.CreateClient(Org.Keys["admin"]);
        var steps = string.Concat(Enumerable.Range(0, 1500).Select(i => $"  - id: s{i}\n    kind: wait\n    seconds: 1\n    needs: [missing{i}]\n"));

        var answer = await ValidateAsync(admin, $"name: many\nsteps:\n{steps}").ExpectAsync(HttpStatusCode.OK);

        Assert.Equal((1000, 1500), (answer.GetProperty("problems").GetArrayLength(), answer.GetProperty("problemCount").GetInt32()));
    }

    [Fact]
    public async Task Validate_ChecksRolesAgainstTheOrgsRoleMap_LikeAnUpload()
    {
        using var admin = Host.CreateClient(Org.Keys["admin"]);
        var role = Work.Unique("writer").ToLowerInvariant();
        var yaml = $"""
            name: {Work.Unique("wf").ToLowerInvariant()}
            steps:
              - id: draft
                kind: task
                role: {role}
                title: Draft
            """;

        var unbound = await ValidateAsync(admin, yaml).ExpectAsync(HttpStatusCode.OK);
        var problem = Assert.Single(unbound.GetProperty("problems").EnumerateArray());
        Assert.Equal(("unknown-role", 5), (problem.Str("code"), problem.GetProperty("line").GetInt32()));

        await admin.PutAsJsonAsync(Org.Api($"workflow-roles/{role}"), new { queue = "writing" }).ExpectAsync(HttpStatusCode.OK);
        Assert.True((await ValidateAsync(admin, yaml).ExpectAsync(HttpStatusCode.OK)).GetProperty("valid").GetBoolean());
    }

    [Fact]
    public async Task Validate_BadBodies_GetTheUploadsAnswers()
    {
        using var admin = Host.CreateClient(Org.Keys["admin"]);
        var name = Work.Unique("wf").ToLowerInvariant();
        var path = Org.Api("workflows/validate");

        await admin.PostAsJsonAsync(path, new { name }).ExpectProblemAsync(HttpStatusCode.UnsupportedMediaType);
        await admin.PostAsync(path, new StringContent(Definition(name), Encoding.UTF8, "text/plain")).ExpectProblemAsync(HttpStatusCode.UnsupportedMediaType);
        await admin.PostAsync(path, new StringContent(Definition(name), Encoding.Latin1, "application/yaml")).ExpectProblemAsync(HttpStatusCode.UnsupportedMediaType);
        await admin.PostAsync(path, Yaml("")).ExpectProblemAsync(HttpStatusCode.BadRequest, "invalid-workflow");

        var invalidUtf8 = new ByteArrayContent([.. Encoding.UTF8.GetBytes($"name: {name}\ndescription: "), 0xC3, 0x28]);
        invalidUtf8.Headers.ContentType = new MediaTypeHeaderValue("application/yaml");
        await admin.PostAsync(path, invalidUtf8).ExpectProblemAsync(HttpStatusCode.BadRequest, "malformed-yaml");

        // Just over 1 MiB, sent chunked so that the server reads to the limit (see the upload's test).
        using var large = new HttpRequestMessage(HttpMethod.Post, path) { Content = Yaml(Definition(name) + "\n#" + new string('x', 1024 * 1024)) };
        large.Headers.TransferEncodingChunked = true;
        await admin.SendAsync(large).ExpectProblemAsync(HttpStatusCode.RequestEntityTooLarge, "too-large");

        Assert.True((await ValidateAsync(admin, Definition(name)).ExpectAsync(HttpStatusCode.OK)).GetProperty("valid").GetBoolean());
    }

    [Fact]
    public async Task ValidateAndTemplates_Anonymous401_AndAnotherOrg404()
    {
        using var anonymous = Host.CreateClient();
        using var stranger = Host.CreateClient(fixture.OtherOrg.Keys["owner"]);
        var yaml = Definition(Work.Unique("wf").ToLowerInvariant());

        await ValidateAsync(anonymous, yaml).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        await anonymous.GetAsync(Org.Api("workflow-templates")).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        await ValidateAsync(stranger, yaml).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await stranger.GetAsync(Org.Api("workflow-templates")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        Assert.True((await ValidateAsync(stranger, yaml, fixture.OtherOrg).ExpectAsync(HttpStatusCode.OK)).GetProperty("valid").GetBoolean());
    }

    [Fact]
    public async Task Templates_ListTheShippedTemplates_WithTheirDescriptionAndYaml_EachOfThemValid()
    {
        using var viewer = Host.CreateClient(Org.Keys["viewer"]);
        using var admin = Host.CreateClient(Org.Keys["admin"]);
        await admin.PutAsJsonAsync(Org.Api("workflow-roles/planner"), new { queue = "planning" }).ExpectAsync(HttpStatusCode.OK);

        var list = await viewer.GetAsync(Org.Api("workflow-templates")).ExpectAsync(HttpStatusCode.OK);

        var items = list.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(["draft-approve-publish", "nightly-triage", "research-fan-out", "write-review-approve-publish"], items.Select(t => t.Str("name")));
        foreach (var template in items)
        {
            Assert.False(string.IsNullOrWhiteSpace(template.Str("description")));
            var answer = await ValidateAsync(viewer, template.Str("yaml")).ExpectAsync(HttpStatusCode.OK);
            Assert.True(answer.GetProperty("valid").GetBoolean(), answer.ToString());
            Assert.Equal(template.Str("name"), answer.Str("name"));
        }
    }
}

public sealed class SqliteWorkflowValidateTests(SqliteHostFixture fixture) : WorkflowValidateTests<SqliteHostFixture>(fixture);

public sealed class PostgresWorkflowValidateTests(PostgresHostFixture fixture) : WorkflowValidateTests<PostgresHostFixture>(fixture);
