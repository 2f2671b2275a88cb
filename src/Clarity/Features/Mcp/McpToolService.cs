using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Clarity.Features.Clarifications;
using Clarity.Features.Identity;
using Clarity.Features.Logs;
using Clarity.Features.Tasks;
using Clarity.Hosting;
using Clarity.Hosting.Authentication;
using Clarity.Hosting.Authorization;
using Microsoft.Extensions.Options;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Clarity.Features.Mcp;

/// <summary>
/// Runs Clarity's MCP tools (<see cref="McpToolCatalog"/>) through the same feature services the REST endpoints call,
/// with the caller's <see cref="OrgContext"/> resolved afresh for every call (a revoked key or a lowered role counts at
/// once) and the same permission per action. Every failure is a tool error (<c>isError</c>) with its reason; a
/// validation failure names the argument.
/// </summary>
public sealed partial class McpToolService(
    TaskService tasks, ClarificationService clarifications, LogService logs, AccessResolver access, IdentityStore identities,
    IOptions<ClarityOptions> options, ILogger<McpToolService> logger)
{
    /// <summary>The queue of the tasks Clarity opens for MCP sessions.</summary>
    public const string SessionQueue = "mcp";

    /// <summary>The lease a session holds on its own task; renewed while the session lives.</summary>
    public const int SessionLeaseSeconds = 900;

    /// <summary>How often ask_human sends a progress notification while it waits.</summary>
    public static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(15);

    private static readonly JsonSerializerOptions s_json = JsonDefaults.Options;

    public ListToolsResult ListTools() => new() { Tools = [.. McpToolCatalog.All.Select(t => t.ToTool())] };

    public async ValueTask<CallToolResult> CallAsync(McpSessionState session, RequestContext<CallToolRequestParams> request, CancellationToken ct)
    {
        var name = request.Params?.Name ?? "";
        var tool = McpToolCatalog.Find(name);
        if (tool is null)
        {
            return Error("unknown-tool", $"There is no tool '{name}'. The tools are {string.Join(", ", McpToolCatalog.All.Select(t => t.Name))}.");
        }

        try
        {
            var org = await AuthorizeAsync(session, request, tool, ct);
            var args = McpArguments.Of(request.Params!.Arguments, tool.Arguments);
            object result = tool.Name switch
            {
                McpToolCatalog.AskHuman => await AskHumanAsync(session, org, args, request, ct),
                McpToolCatalog.GetAnswer => await AnswerOfAsync(await clarifications.GetAsync(org, args.RequiredId("clarificationId"), args.Int("waitSeconds"), ct), ct),
                McpToolCatalog.Log => await LogAsync(session, org, args, request.Server, ct),
                McpToolCatalog.ReportProgress => await ReportProgressAsync(session, org, args, request.Server, ct),
                McpToolCatalog.CreateTask => await CreateTaskAsync(org, args, ct),
                McpToolCatalog.CheckoutTask => await CheckoutAsync(org, args, request.Server, ct),
                McpToolCatalog.CompleteTask => await tasks.CompleteAsync(org, args.RequiredId("taskId"), new CompleteRequest(args.RequiredString("leaseToken"), args.Json("output")), ct),
                McpToolCatalog.FailTask => await tasks.FailAsync(org, args.RequiredId("taskId"),
                    new FailRequest(args.RequiredString("leaseToken"), args.RequiredString("error"), args.Bool("retryable")), ct),
                McpToolCatalog.ListPendingQuestions => await clarifications.ListAsync(org, ClarificationStatuses.Pending, args.String("cursor"), args.Int("limit"), ct),
                _ => throw new InvalidOperationException("A tool without an implementation: " + tool.Name),
            };
            return Success(result);
        }
        catch (ApiException ex)
        {
            return Error(ex);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            // Never a crash of the session: the agent gets a tool error, the operator the log entry.
            Log.ToolFailed(logger, ex, name);
            return Error("internal", "An unexpected error occurred. It has been logged.");
        }
    }

    /// <summary>
    /// The caller's access for this call: the same credential that opened the session, never a cookie, and the tool's
    /// permission in the session's org (resolved now, so that revocations and role changes apply at once).
    /// </summary>
    private async Task<OrgContext> AuthorizeAsync(McpSessionState session, RequestContext<CallToolRequestParams> request, McpToolDefinition tool, CancellationToken ct)
    {
        var caller = CallerIdentity.Of(request.User) ?? session.Opened.Caller;
        if (caller.Source == CredentialSource.Cookie)
        {
            throw Problems.Unauthorized("MCP takes Authorization: Bearer <api key>, never the dashboard's session cookie.");
        }

        if (caller.ActorId != session.Opened.Caller.ActorId)
        {
            throw Problems.Forbidden("This MCP session was opened with another credential.");
        }

        var org = await access.ResolveAsync(caller, session.Opened.OrgId, session.Opened.Slug, ct) ?? throw Problems.NotFound($"Org '{session.Opened.Slug}'");
        if (!org.Can(tool.Permission))
        {
            throw Problems.Forbidden($"Your role '{org.Role}' lacks the '{tool.Permission}' permission that {tool.Name} needs.");
        }

        session.Current = org;
        return org;
    }

    private async Task<object> AskHumanAsync(McpSessionState session, OrgContext org, McpArguments args, RequestContext<CallToolRequestParams> request, CancellationToken ct)
    {
        var question = args.RequiredString("question");
        var choices = args.Strings("options");
        var expiresIn = args.Int("expiresInSeconds");
        var defaultAnswer = args.String("defaultAnswer");
        var wait = args.Bool("wait") ?? true;
        var (taskId, leaseToken) = (args.Id("taskId"), args.String("leaseToken"));
        if (taskId is null && leaseToken is not null)
        {
            throw Problems.Validation("taskId", "is required with leaseToken.");
        }

        if (taskId is not null && leaseToken is null)
        {
            throw Problems.Validation("leaseToken", "is required with taskId: pass the token checkout_task returned.");
        }

        if (taskId is null)
        {
            if (!wait && request.Server.SessionId is null)
            {
                throw Problems.Validation("wait", "false needs an MCP session (protocol 2025-11-25 or earlier) or a taskId with its leaseToken: without either, nothing would keep the question's task.");
            }

            var own = await SessionTaskAsync(session, org, request.Server, ct, perRequest: true);
            (taskId, leaseToken) = (own.Id, own.LeaseToken);
        }

        var asked = await clarifications.CreateAsync(org, taskId.Value,
            new CreateClarificationRequest(leaseToken, question, choices, expiresIn, defaultAnswer is null ? null : OnExpiry.Default, defaultAnswer), ct);
        if (!wait)
        {
            return await AnswerOfAsync(asked, ct);
        }

        // Wait in slices (ClarificationService wakes on the answer at once), with a progress notification after each
        // slice so that clients that reset their timeout on progress keep waiting, and the credential checked again.
        var progressToken = request.Params?.ProgressToken;
        var slice = (int)Math.Min(ProgressInterval.TotalSeconds, options.Value.Limits.MaxWaitSeconds);
        var waited = 0;
        while (true)
        {
            var current = await clarifications.GetAsync(org, asked.Id, slice, ct);
            if (current.Status != ClarificationStatuses.Pending)
            {
                return await AnswerOfAsync(current, ct);
            }

            if (await access.RecheckAsync(org, McpToolCatalog.Find(McpToolCatalog.AskHuman)!.Permission, ct) is { } lost)
            {
                throw Problems.Forbidden($"Stopped waiting: the credential no longer grants this ({lost}). The question stays open in the inbox: {asked.Id}.");
            }

            waited += slice;
            if (progressToken is { } token)
            {
                await request.Server.NotifyProgressAsync(token,
                    new ProgressNotificationValue { Progress = waited, Message = $"Waiting for a person to answer (question {asked.Id}, {waited} s so far)." },
                    cancellationToken: ct);
            }
        }
    }

    /// <summary>A question as the tools return it: its status, the answer, and who gave it (or that the default was applied).</summary>
    private async Task<object> AnswerOfAsync(Clarification c, CancellationToken ct)
    {
        object? answeredBy = null;
        if (c.AnsweredBy is { } by)
        {
            var user = await identities.FindUserAsync(by, ct);
            answeredBy = user is null ? new { id = by } : new { id = by, name = user.DisplayName, email = user.Email };
        }

        var defaulted = c.Status == ClarificationStatuses.Expired && c.Answer is not null;
        return new
        {
            clarificationId = c.Id,
            taskId = c.TaskId,
            status = c.Status,
            question = c.Question,
            options = c.Options,
            answer = c.Answer,
            answeredBy,
            answeredVia = c.AnsweredVia,
            answeredAt = c.AnsweredAt,
            expiresAt = c.ExpiresAt,
            defaultApplied = defaulted,
            note = c.Status switch
            {
                ClarificationStatuses.Pending => "Nobody has answered yet: call get_answer later.",
                ClarificationStatuses.Expired when defaulted => "Nobody answered in time: this is the default answer, not a person's.",
                ClarificationStatuses.Expired => "Nobody answered in time and there was no default answer; the task has failed.",
                ClarificationStatuses.Cancelled => "The question was cancelled with its task.",
                _ => null,
            },
        };
    }

    private async Task<object> LogAsync(McpSessionState session, OrgContext org, McpArguments args, McpServer server, CancellationToken ct)
    {
        var text = args.RequiredString("text");
        var line = new LogLineInput(null, args.String("level"), args.String("stream"), text);
        var taskId = args.Id("taskId") ?? (await SessionTaskAsync(session, org, server, ct)).Id;
        var appended = await logs.AppendAsync(org, taskId, [line], ct);
        return new { taskId, seq = appended.LastSeq };
    }

    private async Task<object> ReportProgressAsync(McpSessionState session, OrgContext org, McpArguments args, McpServer server, CancellationToken ct)
    {
        var message = args.RequiredString("message");
        var progress = args.Number("progress");
        var total = args.Number("total");
        if (progress < 0)
        {
            throw Problems.Validation("progress", "must be zero or more.");
        }

        if (total <= 0)
        {
            throw Problems.Validation("total", "must be more than zero.");
        }

        if (total is not null && progress is null)
        {
            throw Problems.Validation("progress", "is required with total.");
        }

        var (taskId, leaseToken) = (args.Id("taskId"), args.String("leaseToken"));
        if (taskId is null)
        {
            if (leaseToken is not null)
            {
                throw Problems.Validation("taskId", "is required with leaseToken.");
            }

            var own = await SessionTaskAsync(session, org, server, ct);
            (taskId, leaseToken) = (own.Id, own.LeaseToken);
        }

        var prefix = (progress, total) switch
        {
            ({ } p, { } t) => string.Create(CultureInfo.InvariantCulture, $"[{p:0.##}/{t:0.##}] "),
            ({ } p, null) => string.Create(CultureInfo.InvariantCulture, $"[{p:0.##}%] "),
            _ => "",
        };
        var appended = await logs.AppendAsync(org, taskId.Value, [new LogLineInput(null, LogLevels.Info, "progress", prefix + message)], ct);
        DateTimeOffset? leaseExpiresAt = null;
        if (leaseToken is not null)
        {
            leaseExpiresAt = (await tasks.HeartbeatAsync(org, taskId.Value, new HeartbeatRequest(leaseToken, null), ct)).LeaseExpiresAt;
        }

        return new { taskId, seq = appended.LastSeq, leaseExpiresAt };
    }

    private async Task<object> CreateTaskAsync(OrgContext org, McpArguments args, CancellationToken ct)
    {
        var request = new CreateTaskRequest(
            args.String("queue"), args.RequiredString("title"), args.Json("input"), args.Strings("labels"), args.Int("priority"), args.Int("maxAttempts"),
            args.Int("timeoutSeconds"), args.String("idempotencyKey"), args.Ids("dependsOn"));
        var (task, created) = await tasks.CreateAsync(org, request, ct);
        return new { task, created };
    }

    private async Task<object> CheckoutAsync(OrgContext org, McpArguments args, McpServer server, CancellationToken ct)
    {
        var request = new CheckoutRequest(
            args.String("agent") ?? AgentName(server.ClientInfo), args.Strings("queues"), args.Strings("labels"), args.Int("waitSeconds"), args.Int("leaseSeconds"), args.Id("taskId"));
        var lease = await tasks.CheckoutAsync(org, request, ct);
        return lease is null ? new { task = (AgentTask?)null, note = "No task arrived in time." } : lease;
    }

    /// <summary>
    /// The session's own task, opened on first use: a task in queue <c>mcp</c> titled with the client's name and version,
    /// claimed at once by the session (a label no agent holds keeps other agents off it). A task that ended meanwhile (a
    /// person cancelled it, or its lease lapsed) is replaced by a new one.
    /// </summary>
    private async Task<McpSessionTask> SessionTaskAsync(McpSessionState session, OrgContext org, McpServer server, CancellationToken ct, bool perRequest = false)
    {
        if (server.SessionId is null && !perRequest)
        {
            // Protocol 2026-07-28 has no sessions: a task opened now would close with this request.
            throw Problems.Validation("taskId", "is required without an MCP session (protocol 2026-07-28 and later); a session (2025-11-25 and earlier) has a task of its own.");
        }

        await session.Gate.WaitAsync(ct);
        try
        {
            if (session.Task is { } existing)
            {
                var current = await tasks.GetAsync(org, existing.Id, ct);
                if (current.Status is TaskStatuses.Running or TaskStatuses.AwaitingResponse)
                {
                    return existing;
                }
            }

            var client = server.ClientInfo;
            var clientName = string.IsNullOrWhiteSpace(client?.Name) ? "MCP client" : client.Name.Trim();
            var title = Trim($"MCP session: {clientName} {client?.Version}".Trim(), 500);
            var label = "mcp-session-" + Guid.NewGuid().ToString("N")[..16];
            var input = JsonSerializer.SerializeToElement(new JsonObject
            {
                ["client"] = new JsonObject { ["name"] = client?.Name, ["version"] = client?.Version },
                ["protocolVersion"] = server.NegotiatedProtocolVersion,
                ["mcpSessionId"] = server.SessionId,
            });
            var (task, _) = await tasks.CreateAsync(org, new CreateTaskRequest(SessionQueue, title, input, [label], 0, 1, 7 * 86_400, null), ct);
            var lease = await tasks.CheckoutAsync(org, new CheckoutRequest(AgentName(client), [SessionQueue], [label], 0, SessionLeaseSeconds, task.Id), ct)
                ?? throw Problems.Conflict("session-task", "Could not claim the MCP session's task.");
            var opened = new McpSessionTask(task.Id, lease.LeaseToken) { LeaseExpiresAt = lease.LeaseExpiresAt };
            session.Task = opened;
            Log.SessionTaskOpened(logger, task.Id, org.Slug, clientName);
            return opened;
        }
        finally
        {
            session.Gate.Release();
        }
    }

    /// <summary>Keeps the session's lease alive while the session lives (called every few minutes).</summary>
    public async Task RenewAsync(McpSessionState session, CancellationToken ct)
    {
        await session.Gate.WaitAsync(ct);
        try
        {
            if (session.Task is not { } own)
            {
                return;
            }

            var org = await access.ResolveAsync(session.Current.Caller, session.Current.OrgId, session.Current.Slug, ct);
            if (org is null || !org.Can(Permissions.TasksWrite))
            {
                return;
            }

            own.LeaseExpiresAt = (await tasks.HeartbeatAsync(org, own.Id, new HeartbeatRequest(own.LeaseToken, null), ct)).LeaseExpiresAt;
        }
        catch (ApiException ex)
        {
            // The task ended (cancelled by a person, or failed): the next tool that needs it opens a new one.
            Log.RenewFailed(logger, session.Task?.Id, ex.Message);
        }
        finally
        {
            session.Gate.Release();
        }
    }

    /// <summary>
    /// The session ended (DELETE, idle timeout, the stdio relay exiting): its task succeeds, or, when a question is still
    /// pending on it, is cancelled with the question. Nothing to do when the session never needed a task.
    /// </summary>
    public async Task CloseAsync(McpSessionState session, CancellationToken ct)
    {
        await session.Gate.WaitAsync(ct);
        try
        {
            if (session.Task is not { } own)
            {
                return;
            }

            session.Task = null;
            var org = await access.ResolveAsync(session.Current.Caller, session.Current.OrgId, session.Current.Slug, ct);
            if (org is null || !org.Can(Permissions.TasksWrite))
            {
                return;
            }

            var task = await tasks.GetAsync(org, own.Id, ct);
            if (task.Status == TaskStatuses.Running)
            {
                await tasks.CompleteAsync(org, own.Id, new CompleteRequest(own.LeaseToken, JsonSerializer.SerializeToElement(new { reason = "The MCP session ended." })), ct);
            }
            else if (task.Status is TaskStatuses.AwaitingResponse or TaskStatuses.Queued)
            {
                await tasks.CancelAsync(org, own.Id, ct);
            }

            Log.SessionTaskClosed(logger, own.Id);
        }
        catch (ApiException ex)
        {
            Log.CloseFailed(logger, session.Task?.Id, ex.Message);
        }
        finally
        {
            session.Gate.Release();
        }
    }

    /// <summary>The agent name a client checks out as: <c>mcp:NAME</c> from its initialize handshake.</summary>
    private static string AgentName(Implementation? client)
    {
        var name = string.IsNullOrWhiteSpace(client?.Name) ? "client" : new string([.. client.Name.Trim().Where(c => !char.IsControl(c))]);
        return Trim("mcp:" + name, 100);
    }

    private static string Trim(string text, int max) => text.Length <= max ? text : text[..max];

    private static CallToolResult Success(object result)
    {
        var json = JsonSerializer.SerializeToElement(result, result.GetType(), s_json);
        return new CallToolResult
        {
            Content = [new TextContentBlock { Text = json.GetRawText() }],
            StructuredContent = json.ValueKind == JsonValueKind.Object ? json : null,
            IsError = false,
        };
    }

    private static CallToolResult Error(ApiException ex)
    {
        var problem = new JsonObject
        {
            ["type"] = ex.Type,
            ["status"] = ex.Status,
            ["title"] = ex.Title,
            ["detail"] = ex.Message,
        };
        if (ex.Errors is { } errors)
        {
            problem["errors"] = JsonSerializer.SerializeToNode(errors, s_json);
        }

        return new CallToolResult
        {
            Content = [new TextContentBlock { Text = $"{ex.Title}: {ex.Message}" }],
            StructuredContent = JsonSerializer.SerializeToElement(problem, s_json),
            IsError = true,
        };
    }

    private static CallToolResult Error(string slug, string detail) => Error(new ApiException(400, slug, "Tool error", detail));

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "MCP tool {Tool} failed")]
        public static partial void ToolFailed(ILogger logger, Exception exception, string tool);

        [LoggerMessage(2, LogLevel.Information, "Opened task {TaskId} in org {Org} for an MCP session of {Client}")]
        public static partial void SessionTaskOpened(ILogger logger, Guid taskId, string org, string client);

        [LoggerMessage(3, LogLevel.Information, "Closed the MCP session task {TaskId}")]
        public static partial void SessionTaskClosed(ILogger logger, Guid taskId);

        [LoggerMessage(4, LogLevel.Debug, "Could not renew the lease of MCP session task {TaskId}: {Reason}")]
        public static partial void RenewFailed(ILogger logger, Guid? taskId, string reason);

        [LoggerMessage(5, LogLevel.Warning, "Could not close the MCP session task {TaskId}: {Reason}")]
        public static partial void CloseFailed(ILogger logger, Guid? taskId, string reason);
    }
}
