using System.Text.Json;
using Clarity.Features.Workflows.Expressions;

namespace Clarity.Tests.Workflows.Expressions;

/// <summary>A workflow context shared by the expression tests, and helpers that evaluate to JSON text.</summary>
internal static class ExpressionTestContext
{
    public static readonly ExpressionContext Context = ExpressionContext.FromJson(JsonDocument.Parse("""
        {
          "inputs": {
            "topic": "Cats", "count": 3, "big": 12345678901234567890, "flag": true, "off": false, "empty": "",
            "zero": 0, "tags": ["a", "b"], "nested": { "k": "v", "list": [ { "x": 1 } ] }, "nothing": null,
            "json": "{\"a\": [1, 2]}", "spaced": "  pad  ", "__secret": "hidden"
          },
          "steps": {
            "draft": { "status": "succeeded", "output": { "title": "Hello", "score": 0.75, "items": [1, 2, 3] } },
            "build-docs": { "status": "failed", "output": null }
          }
        }
        """).RootElement);

    public static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A context whose <c>inputs.big</c> is a string of <paramref name="length"/> characters.</summary>
    public static ExpressionContext WithBigInput(int length) =>
        ExpressionContext.ForWorkflow(new System.Text.Json.Nodes.JsonObject { ["big"] = new string('x', length) }, []);

    /// <summary>Evaluates a bare expression and returns the result as compact JSON ("null" for null).</summary>
    public static string Eval(string expression)
    {
        var parsed = ParsedExpression.ParseCondition(expression);
        Xunit.Assert.True(parsed.Check.IsValid, string.Join("; ", parsed.Check.Errors.Select(e => $"{e.Offset}+{e.Length}: {e.Message}")));
        return parsed.Evaluate(Context)?.ToJsonString(Relaxed) ?? "null";
    }

    public static ExpressionException EvalFails(string expression)
    {
        var parsed = ParsedExpression.ParseCondition(expression);
        Xunit.Assert.True(parsed.Check.IsValid, string.Join("; ", parsed.Check.Errors.Select(e => e.Message)));
        return Xunit.Assert.Throws<ExpressionException>(() => parsed.Evaluate(Context));
    }
}
