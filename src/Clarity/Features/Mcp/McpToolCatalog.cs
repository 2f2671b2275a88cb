using System.Text.Json;
using Clarity.Hosting;
using ModelContextProtocol.Protocol;

namespace Clarity.Features.Mcp;

/// <summary>One MCP tool: its name, description, JSON schema, argument names and the permission a call needs.</summary>
public sealed record McpToolDefinition(string Name, string Title, string Description, string Permission, string Schema, bool ReadOnly)
{
    /// <summary>The argument names the schema lists (anything else is refused).</summary>
    public IReadOnlyCollection<string> Arguments { get; } =
        [.. JsonDocument.Parse(Schema).RootElement.GetProperty("properties").EnumerateObject().Select(p => p.Name)];

    public Tool ToTool() => new()
    {
        Name = Name,
        Title = Title,
        Description = Description,
        InputSchema = JsonDocument.Parse(Schema).RootElement.Clone(),
        Annotations = new ToolAnnotations { Title = Title, ReadOnlyHint = ReadOnly, DestructiveHint = false, OpenWorldHint = false },
    };
}

/// <summary>
/// Clarity's MCP tools. Argument names are the REST API's field names (camelCase), so a validation error from the
/// feature services names the same argument the agent sent.
/// </summary>
public static class McpToolCatalog
{
    public const string AskHuman = "ask_human";
    public const string GetAnswer = "get_answer";
    public const string Log = "log";
    public const string ReportProgress = "report_progress";
    public const string CreateTask = "create_task";
    public const string CheckoutTask = "checkout_task";
    public const string CompleteTask = "complete_task";
    public const string FailTask = "fail_task";
    public const string ListPendingQuestions = "list_pending_questions";

    private const string TaskIdOptional =
        "\"taskId\": { \"type\": \"string\", \"format\": \"uuid\", \"description\": \"The task this is about. Omit it to use this MCP session's own task (opened on first use in queue 'mcp').\" }";

    private const string LeaseTokenOptional =
        "\"leaseToken\": { \"type\": \"string\", \"description\": \"The lease token checkout_task returned for taskId. Not needed for this session's own task.\" }";

    public static readonly IReadOnlyList<McpToolDefinition> All =
    [
        new(AskHuman, "Ask a person",
            "Ask the people of this Clarity org a question and wait for the answer (a person answers in the dashboard's inbox). " +
            "Give options to offer choices, expiresInSeconds to bound the wait, and defaultAnswer to get that answer instead of a failure when nobody answers in time. " +
            "While waiting the server sends progress notifications about every 15 seconds. With wait=false it returns at once with a clarificationId; fetch the answer later with get_answer. " +
            "Without taskId the question belongs to this MCP session's own task (queue 'mcp'); with taskId, pass the leaseToken from checkout_task. " +
            "The result says who answered, or status 'expired' when the default answer was applied because nobody answered.",
            Permissions.TasksWrite,
            $$"""
            {
              "type": "object",
              "properties": {
                "question": { "type": "string", "minLength": 1, "maxLength": 10000, "description": "The question, in plain words." },
                "options": { "type": "array", "items": { "type": "string", "maxLength": 500 }, "minItems": 1, "maxItems": 20, "description": "Choices to offer; the person may still answer in free text." },
                "expiresInSeconds": { "type": "integer", "minimum": 1, "maximum": 2592000, "description": "How long the question stays open (default 3600)." },
                "defaultAnswer": { "type": "string", "maxLength": 10000, "description": "The answer to use when the question expires unanswered. Without it an expired question fails its task." },
                "wait": { "type": "boolean", "default": true, "description": "true (default): wait for the answer or the expiry. false: return a clarificationId at once; fetch the answer with get_answer." },
                {{TaskIdOptional}},
                {{LeaseTokenOptional}}
              },
              "required": ["question"],
              "additionalProperties": false
            }
            """, ReadOnly: false),
        new(GetAnswer, "Get an answer",
            "Fetch a question asked with ask_human (wait=false): its status (pending, answered, expired, cancelled), the answer and who gave it. " +
            "waitSeconds waits up to that long for a pending question to be answered.",
            Permissions.TasksRead,
            """
            {
              "type": "object",
              "properties": {
                "clarificationId": { "type": "string", "format": "uuid", "description": "The id ask_human returned." },
                "waitSeconds": { "type": "integer", "minimum": 0, "maximum": 60, "description": "Wait up to this long for an answer (default 0: answer at once)." }
              },
              "required": ["clarificationId"],
              "additionalProperties": false
            }
            """, ReadOnly: true),
        new(Log, "Write a log line",
            "Append one line to a task's log, which people watch live in the dashboard and can search.",
            Permissions.TasksWrite,
            $$"""
            {
              "type": "object",
              "properties": {
                "text": { "type": "string", "description": "The line." },
                "level": { "type": "string", "enum": ["trace", "debug", "info", "warn", "error"], "description": "Default info." },
                "stream": { "type": "string", "maxLength": 32, "description": "Default stdout." },
                {{TaskIdOptional}}
              },
              "required": ["text"],
              "additionalProperties": false
            }
            """, ReadOnly: false),
        new(ReportProgress, "Report progress",
            "Tell people how far a task has got: a line on the task's 'progress' log stream, and (with the lease) a heartbeat that keeps the lease alive.",
            Permissions.TasksWrite,
            $$"""
            {
              "type": "object",
              "properties": {
                "message": { "type": "string", "minLength": 1, "description": "What is happening now." },
                "progress": { "type": "number", "minimum": 0, "description": "How much is done, e.g. 3 (of total) or 40 (percent, without total)." },
                "total": { "type": "number", "exclusiveMinimum": 0, "description": "The amount that means done." },
                {{TaskIdOptional}},
                {{LeaseTokenOptional}}
              },
              "required": ["message"],
              "additionalProperties": false
            }
            """, ReadOnly: false),
        new(CreateTask, "Create a task",
            "Create a task in a queue, for an agent to check out. An idempotencyKey already used in the org returns that task instead.",
            Permissions.TasksWrite,
            """
            {
              "type": "object",
              "properties": {
                "title": { "type": "string", "minLength": 1, "maxLength": 500 },
                "queue": { "type": "string", "description": "Default 'default'." },
                "input": { "description": "Any JSON value: the task's input." },
                "labels": { "type": "array", "items": { "type": "string" }, "description": "Capabilities an agent needs to take it." },
                "priority": { "type": "integer", "minimum": -1000, "maximum": 1000 },
                "maxAttempts": { "type": "integer", "minimum": 1, "maximum": 100 },
                "timeoutSeconds": { "type": "integer", "minimum": 1, "maximum": 604800 },
                "idempotencyKey": { "type": "string", "maxLength": 200 },
                "dependsOn": { "type": "array", "items": { "type": "string", "format": "uuid" }, "description": "Tasks that must succeed first." }
              },
              "required": ["title"],
              "additionalProperties": false
            }
            """, ReadOnly: false),
        new(CheckoutTask, "Check out a task",
            "Take the next task from the org's queues under a lease. Returns the task and a leaseToken (pass it to complete_task, fail_task, ask_human and report_progress), or task null when none arrived within waitSeconds.",
            Permissions.TasksWrite,
            """
            {
              "type": "object",
              "properties": {
                "queues": { "type": "array", "items": { "type": "string" }, "description": "Queues to take work from; none means every queue." },
                "agent": { "type": "string", "maxLength": 100, "description": "The agent's name (default: the MCP client's name)." },
                "labels": { "type": "array", "items": { "type": "string" }, "description": "The agent's capabilities." },
                "waitSeconds": { "type": "integer", "minimum": 0, "maximum": 60, "description": "Wait this long for work (default 0)." },
                "leaseSeconds": { "type": "integer", "minimum": 1, "maximum": 86400 },
                "taskId": { "type": "string", "format": "uuid", "description": "Claim this queued task instead of the next one." }
              },
              "additionalProperties": false
            }
            """, ReadOnly: false),
        new(CompleteTask, "Complete a task",
            "Finish a checked-out task successfully, with its output.",
            Permissions.TasksWrite,
            """
            {
              "type": "object",
              "properties": {
                "taskId": { "type": "string", "format": "uuid" },
                "leaseToken": { "type": "string" },
                "output": { "description": "Any JSON value: the task's result." }
              },
              "required": ["taskId", "leaseToken"],
              "additionalProperties": false
            }
            """, ReadOnly: false),
        new(FailTask, "Fail a task",
            "Report that a checked-out task failed. retryable=true requeues it while attempts remain.",
            Permissions.TasksWrite,
            """
            {
              "type": "object",
              "properties": {
                "taskId": { "type": "string", "format": "uuid" },
                "leaseToken": { "type": "string" },
                "error": { "type": "string", "minLength": 1, "maxLength": 10000 },
                "retryable": { "type": "boolean" }
              },
              "required": ["taskId", "leaseToken", "error"],
              "additionalProperties": false
            }
            """, ReadOnly: false),
        new(ListPendingQuestions, "List pending questions",
            "The org's questions still waiting for a person, newest first (a page; pass nextCursor back as cursor for more).",
            Permissions.TasksRead,
            """
            {
              "type": "object",
              "properties": {
                "limit": { "type": "integer", "minimum": 1, "maximum": 200, "description": "Default 50." },
                "cursor": { "type": "string" }
              },
              "additionalProperties": false
            }
            """, ReadOnly: true),
    ];

    private static readonly Dictionary<string, McpToolDefinition> s_byName = All.ToDictionary(t => t.Name, StringComparer.Ordinal);

    public static McpToolDefinition? Find(string name) => s_byName.GetValueOrDefault(name);
}
