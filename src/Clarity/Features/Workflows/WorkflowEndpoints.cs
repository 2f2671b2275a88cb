using System.Buffers;
using System.Text;
using Clarity.Features.Workflows.Definitions;
using Clarity.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;
using Microsoft.OpenApi;

namespace Clarity.Features.Workflows;

public static class WorkflowEndpoints
{
    /// <summary>The media types a workflow upload may carry (the registered one first).</summary>
    public static readonly IReadOnlyList<string> YamlMediaTypes = ["application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"];

    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static IServiceCollection AddWorkflows(this IServiceCollection services)
    {
        services.AddSingleton<WorkflowStore>();
        services.AddSingleton<WorkflowService>();
        return services;
    }

    public static IEndpointRouteBuilder MapWorkflowEndpoints(this IEndpointRouteBuilder app)
    {
        var workflows = app.MapGroup("/api/v1/orgs/{org}/workflows").WithTags("Workflows");
        workflows.MapPost("", Upload).RequirePermission(Permissions.WorkflowsManage).AddOpenApiOperationTransformer(YamlBody);
        // A dry run of the upload: the same body rules, stores nothing, so reading workflows is enough.
        workflows.MapPost("/validate", Validate).RequirePermission(Permissions.WorkflowsRead).AddOpenApiOperationTransformer(YamlBody);
        workflows.MapGet("", List).RequirePermission(Permissions.WorkflowsRead);
        workflows.MapGet("/{name}", Get).RequirePermission(Permissions.WorkflowsRead);
        workflows.MapGet("/{name}/versions", ListVersions).RequirePermission(Permissions.WorkflowsRead);
        workflows.MapGet("/{name}/versions/{version}", GetVersion).RequirePermission(Permissions.WorkflowsRead);
        workflows.MapGet("/{name}/versions/{version}/docs", Docs).RequirePermission(Permissions.WorkflowsRead)
            .Produces<string>(StatusCodes.Status200OK, "text/markdown");
        workflows.MapPut("/{name}/labels/{label}", SetLabel).RequirePermission(Permissions.WorkflowsManage);
        workflows.MapDelete("/{name}/labels/{label}", RemoveLabel).RequirePermission(Permissions.WorkflowsManage);

        app.MapGroup("/api/v1/orgs/{org}/workflow-templates").WithTags("Workflows").MapGet("", ListTemplates).RequirePermission(Permissions.WorkflowsRead);

        var roles = app.MapGroup("/api/v1/orgs/{org}/workflow-roles").WithTags("Workflows");
        roles.MapGet("", ListRoles).RequirePermission(Permissions.WorkflowsRead);
        roles.MapPut("/{name}", PutRole).RequirePermission(Permissions.WorkflowsManage);
        roles.MapDelete("/{name}", RemoveRole).RequirePermission(Permissions.WorkflowsManage);
        return app;
    }

    /// <summary>The YAML is the body. 201 with the new version; 200 with the newest one when the file is the same byte for byte.</summary>
    private static async Task<Results<Created<WorkflowVersionInfo>, Ok<WorkflowVersionInfo>>> Upload(
        OrgContext org, HttpRequest request, WorkflowService workflows, CancellationToken ct)
    {
        var yaml = await ReadYamlAsync(request, ct);
        var version = await workflows.UploadAsync(org, yaml, ct);
        return version.Unchanged
            ? TypedResults.Ok(version)
            : TypedResults.Created($"/api/v1/orgs/{org.Slug}/workflows/{version.Name}/versions/{version.Version}", version);
    }

    /// <summary>Always 200 for a body that is read (valid or not): a check, not an upload.</summary>
    private static async Task<Ok<WorkflowValidation>> Validate(OrgContext org, HttpRequest request, WorkflowService workflows, CancellationToken ct) =>
        TypedResults.Ok(await workflows.ValidateAsync(org, await ReadYamlAsync(request, ct), ct));

    /// <summary>The templates are the same in every org; the route is org-scoped so that reading them needs workflows:read like the rest.</summary>
    private static Ok<WorkflowTemplateList> ListTemplates() => TypedResults.Ok(new WorkflowTemplateList(WorkflowService.Templates));

    private static async Task<Ok<WorkflowPage>> List(OrgContext org, WorkflowService workflows, string? cursor, int? limit, CancellationToken ct) =>
        TypedResults.Ok(await workflows.ListAsync(org, cursor, limit, ct));

    private static async Task<Ok<WorkflowSummary>> Get(OrgContext org, string name, WorkflowService workflows, CancellationToken ct) =>
        TypedResults.Ok(await workflows.GetAsync(org, name, ct));

    private static async Task<Ok<WorkflowVersionPage>> ListVersions(OrgContext org, string name, WorkflowService workflows, string? cursor, int? limit, CancellationToken ct) =>
        TypedResults.Ok(await workflows.ListVersionsAsync(org, name, cursor, limit, ct));

    /// <summary><c>{version}</c> is a number, a label such as <c>stable</c>, or <c>latest</c>.</summary>
    private static async Task<Ok<WorkflowVersionDetail>> GetVersion(OrgContext org, string name, string version, WorkflowService workflows, CancellationToken ct) =>
        TypedResults.Ok(await workflows.GetVersionAsync(org, name, version, ct));

    private static async Task<ContentHttpResult> Docs(OrgContext org, string name, string version, WorkflowService workflows, CancellationToken ct) =>
        TypedResults.Text(await workflows.DocsAsync(org, name, version, ct), "text/markdown; charset=utf-8");

    private static async Task<Ok<WorkflowLabel>> SetLabel(OrgContext org, string name, string label, SetWorkflowLabelRequest request, WorkflowService workflows, CancellationToken ct) =>
        TypedResults.Ok(await workflows.SetLabelAsync(org, name, label, request, ct));

    private static async Task<NoContent> RemoveLabel(OrgContext org, string name, string label, WorkflowService workflows, CancellationToken ct)
    {
        await workflows.RemoveLabelAsync(org, name, label, ct);
        return TypedResults.NoContent();
    }

    private static async Task<Ok<WorkflowRoleList>> ListRoles(OrgContext org, WorkflowService workflows, CancellationToken ct) =>
        TypedResults.Ok(await workflows.ListRolesAsync(org, ct));

    private static async Task<Ok<WorkflowRole>> PutRole(OrgContext org, string name, PutWorkflowRoleRequest request, WorkflowService workflows, CancellationToken ct) =>
        TypedResults.Ok(await workflows.PutRoleAsync(org, name, request, ct));

    private static async Task<NoContent> RemoveRole(OrgContext org, string name, WorkflowService workflows, CancellationToken ct)
    {
        await workflows.RemoveRoleAsync(org, name, ct);
        return TypedResults.NoContent();
    }

    /// <summary>
    /// Describes the YAML body to OpenAPI. Not Accepts(): Accepts metadata makes routing answer 415 before authorization
    /// runs, so an anonymous or cross-org caller would learn the route's media type.
    /// </summary>
    private static Task YamlBody(OpenApiOperation operation, Microsoft.AspNetCore.OpenApi.OpenApiOperationTransformerContext context, CancellationToken ct)
    {
        operation.RequestBody = new OpenApiRequestBody
        {
            Required = true,
            Description = "The workflow definition (YAML, at most 1 MiB).",
            Content = YamlMediaTypes.ToDictionary(t => t, _ => new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String } }),
        };
        return Task.CompletedTask;
    }

    /// <summary>
    /// The body as YAML text: a YAML media type (415 otherwise, as for a charset other than UTF-8), at most
    /// <see cref="WorkflowDefinitionParser.MaxBytes"/> (413), valid UTF-8 (400).
    /// </summary>
    private static async Task<string> ReadYamlAsync(HttpRequest request, CancellationToken ct)
    {
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var media) || !YamlMediaTypes.Contains(media.MediaType.Value?.ToLowerInvariant()))
        {
            throw Problems.UnsupportedMediaType($"Send the workflow definition as YAML, with Content-Type: {YamlMediaTypes[0]}.");
        }

        if (!RequestGuard.CharsetIsUtf8(media))
        {
            throw Problems.UnsupportedMediaType("Workflow definitions are read as UTF-8; send charset=utf-8 or no charset.");
        }

        var tooLarge = Problems.TooLarge($"A workflow definition may be at most {WorkflowDefinitionParser.MaxBytes / 1024} KiB.");
        if (request.ContentLength > WorkflowDefinitionParser.MaxBytes)
        {
            throw tooLarge;
        }

        var buffer = new ArrayBufferWriter<byte>();
        var chunk = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
            {
                if (buffer.WrittenCount + read > WorkflowDefinitionParser.MaxBytes)
                {
                    throw tooLarge;
                }

                buffer.Write(chunk.AsSpan(0, read));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        if (buffer.WrittenCount == 0)
        {
            throw Problems.BadRequest("invalid-workflow", "The body is empty; send the workflow definition as YAML.");
        }

        try
        {
            return s_strictUtf8.GetString(buffer.WrittenSpan);
        }
        catch (DecoderFallbackException)
        {
            throw Problems.BadRequest("malformed-yaml", "The body is not valid UTF-8.");
        }
    }
}
