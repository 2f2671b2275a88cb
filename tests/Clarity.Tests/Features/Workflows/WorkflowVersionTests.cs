using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Workflows;

/// <summary>Workflow definitions over the API: immutable versions, labels, docs, validation answers, access, and races.</summary>
public abstract class WorkflowVersionTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>
    where TFixture : HostFixture
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    private static string Definition(string name, string queue = "writing", string title = "Draft ${{ inputs.topic }}") => $"""
        name: {name}
        description: Draft, then review.
        inputs:
          topic:
            type: string
            required: true
        steps:
          - id: draft
            kind: task
            queue: {queue}
            title: "{title}"
          - id: review
            kind: task
            queue: review
            needs: [draft]
            title: Review
        """;

    private static HttpContent Yaml(string text, string mediaType = "application/yaml") =>
        new StringContent(text, Encoding.UTF8, new MediaTypeHeaderValue(mediaType));

    private Task<HttpResponseMessage> UploadAsync(HttpClient client, string yaml, string mediaType = "application/yaml") =>
        client.PostAsync(Org.Api("workflows"), Yaml(yaml, mediaType));

    [Fact]
    public async Task Upload_NewName_CreatesVersionOne_AChangedFileVersionTwo_AndTheSameFileAgainNoVersion()
    {
        using var admin = Host.CreateClient(Org.Keys["admin"]);
        var name = Work.Unique("wf").ToLowerInvariant();

        var first = await UploadAsync(admin, Definition(name)).ExpectAsync(HttpStatusCode.Created);
        Assert.Equal((name, 1, 2, false), (first.Str("name"), first.GetProperty("version").GetInt32(), first.GetProperty("steps").GetInt32(), first.GetProperty("unchanged").GetBoolean()));
        Assert.Matches("^[0-9a-f]{64}$", first.Str("digest"));

        var second = await UploadAsync(admin, Definition(name, queue: "drafts")).ExpectAsync(HttpStatusCode.Created);
        Assert.Equal(2, second.GetProperty("version").GetInt32());

        var again = await UploadAsync(admin, Definition(name, queue: "drafts")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal((2, true), (again.GetProperty("version").GetInt32(), again.GetProperty("unchanged").GetBoolean()));

        var summary = await admin.GetAsync(Org.Api($"workflows/{name}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal((2, "Draft, then review."), (summary.GetProperty("latestVersion").GetInt32(), summary.Str("description")));
    }

    [Fact]
    public async Task Versions_AreImmutable_ListedNewestFirst_AndReadByNumberLabelOrLatest_WithTheYamlAsSent()
    {
        using var admin = Host.CreateClient(Org.Keys["admin"]);
        var name = Work.Unique("wf").ToLowerInvariant();
        var v1 = Definition(name) + "\n# first\n";
        var v2 = Definition(name) + "\n# second\n";
        await UploadAsync(admin, v1).ExpectAsync(HttpStatusCode.Created);
        await UploadAsync(admin, v2).ExpectAsync(HttpStatusCode.Created);
        await admin.PutAsJsonAsync(Org.Api($"workflows/{name}/labels/stable"), new { version = 1 }).ExpectAsync(HttpStatusCode.OK);

        var versions = await admin.GetAsync(Org.Api($"workflows/{name}/versions")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([2, 1], versions.GetProperty("items").EnumerateArray().Select(v => v.GetProperty("version").GetInt32()));
        Assert.Equal(["stable"], versions.GetProperty("items")[1].GetProperty("labels").EnumerateArray().Select(l => l.GetString()));

        Assert.Equal(v1, (await admin.GetAsync(Org.Api($"workflows/{name}/versions/1")).ExpectAsync(HttpStatusCode.OK)).Str("yaml"));
        Assert.Equal(v1, (await admin.GetAsync(Org.Api($"workflows/{name}/versions/stable")).ExpectAsync(HttpStatusCode.OK)).Str("yaml"));
        var latest = await admin.GetAsync(Org.Api($"workflows/{name}/versions/latest")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal((2, v2), (latest.GetProperty("version").GetInt32(), latest.Str("yaml")));
        Assert.Equal("review", latest.GetProperty("definition").GetProperty("steps")[1].Str("id"));

        await admin.GetAsync(Org.Api($"workflows/{name}/versions/3")).ExpectProblemAsync(HttpStatusCode.NotFound);
        await admin.GetAsync(Org.Api($"workflows/{name}/versions/nightly")).ExpectProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Labels_MoveBetweenVersions_AndAreRemoved_WithTheRightAnswersForBadOnes()
    {
        using var admin = Host.CreateClient(Org.Keys["admin"]);
        var name = Work.Unique("wf").ToLowerInvariant();
        await UploadAsync(admin, Definition(name)).ExpectAsync(HttpStatusCode.Created);
        await UploadAsync(admin, Definition(name, queue: "drafts")).ExpectAsync(HttpStatusCode.Created);

        await admin.PutAsJsonAsync(Org.Api($"workflows/{name}/labels/stable"), new { version = 1 }).ExpectAsync(HttpStatusCode.OK);
        var moved = await admin.PutAsJsonAsync(Org.Api($"workflows/{name}/labels/stable"), new { version = 2 }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("stable", 2), (moved.Str("label"), moved.GetProperty("version").GetInt32()));
        var summary = await admin.GetAsync(Org.Api($"workflows/{name}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(2, summary.GetProperty("labels").GetProperty("stable").GetInt32());

        await admin.PutAsJsonAsync(Org.Api($"workflows/{name}/labels/stable"), new { version = 9 }).ExpectProblemAsync(HttpStatusCode.NotFound);
        await admin.PutAsJsonAsync(Org.Api($"workflows/{name}/labels/latest"), new { version = 1 }).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        await admin.PutAsJsonAsync(Org.Api($"workflows/{name}/labels/Bad%20Label"), new { version = 1 }).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        await admin.PutAsJsonAsync(Org.Api($"workflows/{name}/labels/beta"), new { version = 0 }).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");

        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync(Org.Api($"workflows/{name}/labels/stable"))).StatusCode);
        await admin.DeleteAsync(Org.Api($"workflows/{name}/labels/stable")).ExpectProblemAsync(HttpStatusCode.NotFound);
        await admin.GetAsync(Org.Api($"workflows/{name}/versions/stable")).ExpectProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Upload_InvalidDefinition_Answers400ListingEveryProblemWithLineAndColumn_AndStoresNothing()
    {
        using var admin = Host.CreateClient(Org.Keys["admin"]);
        var name = Work.Unique("wf").ToLowerInvariant();
        var yaml = $"""
            name: {name}
            steps:
              - id: a
                kind: task
                queue: q
                title: A
                needs: [missing]
              - id: a
                kind: teleport
            """;

        var problem = await UploadAsync(admin, yaml).ExpectProblemAsync(HttpStatusCode.BadRequest, "invalid-workflow");
        var problems = problem.GetProperty("problems").EnumerateArray().ToList();
        Assert.True(problems.Count >= 3, problem.ToString());
        Assert.Contains(problems, p => p.Str("code") == "unknown-need" && p.GetProperty("line").GetInt32() == 7);
        Assert.Contains(problems, p => p.Str("code") == "duplicate-step" && p.GetProperty("line").GetInt32() == 8);
        Assert.Contains(problems, p => p.Str("code") == "unknown-kind" && p.GetProperty("line").GetInt32() == 9);
        Assert.All(problems, p => Assert.True(p.GetProperty("column").GetInt32() >= 1));

        await admin.GetAsync(Org.Api($"workflows/{name}")).ExpectProblemAsync(HttpStatusCode.NotFound);
        await UploadAsync(admin, "name: [unclosed").ExpectProblemAsync(HttpStatusCode.BadRequest, "invalid-workflow");
    }

    [Fact]
    public async Task Upload_WithThousandsOfProblems_ListsTheFirstThousand_AndCountsThemAll()
    {
        using var admin = Host.CreateClient(Org.Keys["admin"]);
        var steps = string.Concat(Enumerable.Range(0, 1500).Select(i => $"  - id: s{i}\n    kind: wait\n    seconds: 1\n    needs: [missing{i}]\n"));

        var problem = await UploadAsync(admin, $"name: {Work.Unique("wf").ToLowerInvariant()}\nsteps:\n{steps}").ExpectProblemAsync(HttpStatusCode.BadRequest, "invalid-workflow");

        Assert.Equal(1000, problem.GetProperty("problems").GetArrayLength());
        Assert.Contains("1500 problems (the first 1000 are listed)", problem.Str("detail"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Upload_BadBodies_GetTheirOwn4xx()
    {
        using var admin = Host.CreateClient(Org.Keys["admin"]);
        var name = Work.Unique("wf").ToLowerInvariant();

        await admin.PostAsJsonAsync(Org.Api("workflows"), new { name }).ExpectProblemAsync(HttpStatusCode.UnsupportedMediaType);
        await admin.PostAsync(Org.Api("workflows"), new StringContent(Definition(name), Encoding.Latin1, "application/yaml")).ExpectProblemAsync(HttpStatusCode.UnsupportedMediaType);
        await UploadAsync(admin, "").ExpectProblemAsync(HttpStatusCode.BadRequest);

        var invalidUtf8 = new ByteArrayContent([.. Encoding.UTF8.GetBytes($"name: {name}\ndescription: "), 0xC3, 0x28]);
        invalidUtf8.Headers.ContentType = new MediaTypeHeaderValue("application/yaml");
        await admin.PostAsync(Org.Api("workflows"), invalidUtf8).ExpectProblemAsync(HttpStatusCode.BadRequest, "malformed-yaml");

        // text/yaml is YAML too.
        await UploadAsync(admin, Definition(name), "text/yaml").ExpectAsync(HttpStatusCode.Created);

        // Just over 1 MiB, sent chunked (no Content-Length), so the server reads to the limit and refuses with the whole
        // body already sent: a refusal by Content-Length alone may close the connection while a client still writes.
        using var large = new HttpRequestMessage(HttpMethod.Post, Org.Api("workflows")) { Content = Yaml(Definition(name) + "\n#" + new string('x', 1024 * 1024)) };
        large.Headers.TransferEncodingChunked = true;
        await admin.SendAsync(large).ExpectProblemAsync(HttpStatusCode.RequestEntityTooLarge);
    }

    [Fact]
    public async Task Docs_RenderMarkdownWithTheStepsAndAMermaidGraph()
    {
        using var member = Host.CreateClient(Org.MemberKey);
        using var admin = Host.CreateClient(Org.Keys["admin"]);
        var name = Work.Unique("wf").ToLowerInvariant();
        await UploadAsync(admin, Definition(name)).ExpectAsync(HttpStatusCode.Created);

        var response = await member.GetAsync(Org.Api($"workflows/{name}/versions/latest/docs"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/markdown", response.Content.Headers.ContentType?.MediaType);
        var markdown = await response.Content.ReadAsStringAsync();
        Assert.Contains(name, markdown, StringComparison.Ordinal);
        Assert.Contains("```mermaid", markdown, StringComparison.Ordinal);
        Assert.Contains("draft", markdown, StringComparison.Ordinal);
        Assert.Contains("review", markdown, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Access_MembersRead_OnlyAdminsUpload_AndAnotherOrgsWorkflowIsNotFound()
    {
        using var admin = Host.CreateClient(Org.Keys["admin"]);
        using var member = Host.CreateClient(Org.MemberKey);
        using var viewer = Host.CreateClient(Org.Keys["viewer"]);
        var name = Work.Unique("wf").ToLowerInvariant();
        await UploadAsync(admin, Definition(name)).ExpectAsync(HttpStatusCode.Created);

        await UploadAsync(member, Definition(name, queue: "x")).ExpectProblemAsync(HttpStatusCode.Forbidden);
        await member.PutAsJsonAsync(Org.Api($"workflows/{name}/labels/stable"), new { version = 1 }).ExpectProblemAsync(HttpStatusCode.Forbidden);
        var listed = await viewer.GetAsync(Org.Api("workflows")).ExpectAsync(HttpStatusCode.OK);
        Assert.Contains(listed.GetProperty("items").EnumerateArray(), w => w.Str("name") == name);

        using var stranger = Host.CreateClient(fixture.OtherOrg.Keys["owner"]);
        await stranger.GetAsync(fixture.OtherOrg.Api($"workflows/{name}")).ExpectProblemAsync(HttpStatusCode.NotFound);
        await stranger.GetAsync(Org.Api($"workflows/{name}")).ExpectProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Changes_AreAudited_WithTheVersionDigestAndLabelMoves()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var name = Work.Unique("wf").ToLowerInvariant();
        var created = await UploadAsync(owner, Definition(name)).ExpectAsync(HttpStatusCode.Created);
        await UploadAsync(owner, Definition(name)).ExpectAsync(HttpStatusCode.OK);
        await owner.PutAsJsonAsync(Org.Api($"workflows/{name}/labels/stable"), new { version = 1 }).ExpectAsync(HttpStatusCode.OK);
        (await owner.DeleteAsync(Org.Api($"workflows/{name}/labels/stable"))).EnsureSuccessStatusCode();

        var audit = await owner.GetAsync(Org.Api("audit?action=workflow.*&limit=200")).ExpectAsync(HttpStatusCode.OK);
        var entries = audit.GetProperty("items").EnumerateArray()
            .Where(e => e.GetProperty("entry").GetProperty("target").OptStr("label") == name)
            .OrderBy(e => e.GetProperty("id").GetInt64())
            .ToList();
        Assert.Equal(["workflow.version_created", "workflow.label_set", "workflow.label_removed"], entries.Select(e => e.Str("action")));
        Assert.Equal(created.Str("digest"), entries[0].GetProperty("entry").GetProperty("after").Str("digest"));
    }

    [Fact]
    public async Task RoleMap_BindsChangesAndRemovesRoles_AndUploadsNamingAnUnboundRoleAreRefused()
    {
        using var admin = Host.CreateClient(Org.Keys["admin"]);
        using var viewer = Host.CreateClient(Org.Keys["viewer"]);
        var role = Work.Unique("writer").ToLowerInvariant();
        var name = Work.Unique("wf").ToLowerInvariant();
        var yaml = $"""
            name: {name}
            steps:
              - id: draft
                kind: task
                role: {role}
                title: Draft
            """;

        var refused = await UploadAsync(admin, yaml).ExpectProblemAsync(HttpStatusCode.BadRequest, "invalid-workflow");
        var problem = Assert.Single(refused.GetProperty("problems").EnumerateArray());
        Assert.Equal(("unknown-role", 5), (problem.Str("code"), problem.GetProperty("line").GetInt32()));

        var bound = await admin.PutAsJsonAsync(Org.Api($"workflow-roles/{role}"), new { queue = "writing", agentLabels = new[] { "gpu" }, modelAlias = "fast", promptTemplate = "You write ${{ inputs.topic }}." })
            .ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("writing", "fast"), (bound.Str("queue"), bound.Str("modelAlias")));
        await UploadAsync(admin, yaml).ExpectAsync(HttpStatusCode.Created);

        // Swapping what the role means is a change to the map, never to the workflows.
        await admin.PutAsJsonAsync(Org.Api($"workflow-roles/{role}"), new { queue = "writing-v2" }).ExpectAsync(HttpStatusCode.OK);
        var listed = await viewer.GetAsync(Org.Api("workflow-roles")).ExpectAsync(HttpStatusCode.OK);
        var entry = Assert.Single(listed.GetProperty("items").EnumerateArray(), r => r.Str("name") == role);
        Assert.Equal("writing-v2", entry.Str("queue"));
        Assert.Equal(0, entry.GetProperty("agentLabels").GetArrayLength());

        await viewer.PutAsJsonAsync(Org.Api($"workflow-roles/{role}"), new { queue = "x" }).ExpectProblemAsync(HttpStatusCode.Forbidden);
        await admin.PutAsJsonAsync(Org.Api($"workflow-roles/{role}"), new { queue = "bad queue\n" }).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        await admin.PutAsJsonAsync(Org.Api($"workflow-roles/{role}"), new { }).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        await admin.PutAsJsonAsync(Org.Api("workflow-roles/-bad"), new { queue = "q" }).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");

        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync(Org.Api($"workflow-roles/{role}"))).StatusCode);
        await admin.DeleteAsync(Org.Api($"workflow-roles/{role}")).ExpectProblemAsync(HttpStatusCode.NotFound);

        var audit = await admin.GetAsync(Org.Api("audit?action=workflow.*&limit=200")).ExpectAsync(HttpStatusCode.OK);
        var actions = audit.GetProperty("items").EnumerateArray()
            .Where(e => e.GetProperty("entry").GetProperty("target").OptStr("label") == role)
            .OrderBy(e => e.GetProperty("id").GetInt64()).Select(e => e.Str("action")).ToList();
        Assert.Equal(["workflow.role_set", "workflow.role_set", "workflow.role_removed"], actions);
    }

    [Fact]
    public async Task ConcurrentUploads_OfOneWorkflow_GetDistinctContiguousVersions()
    {
        using var admin = Host.CreateClient(Org.Keys["admin"]);
        var name = Work.Unique("wf").ToLowerInvariant();

        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => UploadAsync(admin, Definition(name, title: $"Draft {i}")).ExpectAsync(HttpStatusCode.Created)));

        Assert.Equal(Enumerable.Range(1, 8), answers.Select(a => a.GetProperty("version").GetInt32()).Order());
        var versions = await admin.GetAsync(Org.Api($"workflows/{name}/versions")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(8, versions.GetProperty("items").GetArrayLength());
    }
}

public sealed class SqliteWorkflowVersionTests(SqliteHostFixture fixture) : WorkflowVersionTests<SqliteHostFixture>(fixture);

public sealed class PostgresWorkflowVersionTests(PostgresHostFixture fixture) : WorkflowVersionTests<PostgresHostFixture>(fixture);
