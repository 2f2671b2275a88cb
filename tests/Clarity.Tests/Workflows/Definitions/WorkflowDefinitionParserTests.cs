using System.Text;
using System.Text.Json.Nodes;
using Clarity.Features.Workflows.Definitions;
using Xunit;

namespace Clarity.Tests.Workflows.Definitions;

public sealed class WorkflowDefinitionParserTests
{
    internal const string Full = """
        name: publish-post
        description: Write and publish a post.
        inputs:
          topic:
            type: string
            required: true
            description: What to write about.
          words:
            type: integer
            default: 800
          tags:
            type: array
            default: [a, b]
        steps:
          - id: draft
            kind: task
            queue: writing
            title: "Draft ${{ inputs.topic }}"
            input:
              topic: ${{ inputs.topic }}
              words: 800
              nested: [x, { y: true }]
            labels:
              team: content
            retry:
              attempts: 3
              initialSeconds: 10
              factor: 3
              maxSeconds: 120
            timeoutSeconds: 600
          - id: approve
            kind: approval
            needs: [draft]
            votes: 2
            from: tasks:respond
            expiresInSeconds: 3600
            onExpiry: approve
            allowSelfApproval: true
            rejections: 2
          - id: pause
            kind: wait
            needs: [approve]
            signal: go-live
            timeoutSeconds: 60
            onTimeout: continue
          - id: cool
            kind: wait
            needs: [draft]
            seconds: 30
          - id: child
            kind: workflow
            needs: [pause, cool]
            when: inputs.words > 100
            workflow: announce
            version: 3
            inputs:
              text: ${{ steps.draft.output.text }}
        """;

    private static WorkflowParseResult Parse(string yaml, WorkflowValidationOptions? options = null) => WorkflowDefinitionParser.Parse(yaml, options);

    private static DefinitionProblem Single(string yaml, string code)
    {
        var result = Parse(yaml);
        Assert.Null(result.Definition);
        var matching = result.Problems.Where(p => p.Code == code).ToList();
        Assert.True(matching.Count == 1, $"expected one {code}, got:\n{string.Join('\n', result.Problems)}");
        return matching[0];
    }

    [Fact]
    public void Parse_FullDefinition_BuildsTheModel()
    {
        var result = Parse(Full);

        Assert.True(result.IsValid, string.Join('\n', result.Problems));
        var d = result.Definition!;
        Assert.Equal("publish-post", d.Name);
        Assert.Equal("Write and publish a post.", d.Description);
        Assert.Equal(["topic", "words", "tags"], d.Inputs.Select(i => i.Name));
        Assert.True(d.Inputs[0].Required);
        Assert.Equal(WorkflowInputType.Integer, d.Inputs[1].Type);
        Assert.Equal(800, d.Inputs[1].Default!.GetValue<long>());
        Assert.Equal("""["a","b"]""", d.Inputs[2].Default!.ToJsonString());
        Assert.Equal(new SourcePosition(4, 3), d.Inputs[0].Position);

        var draft = Assert.IsType<TaskStep>(d.Steps[0]);
        Assert.Equal(("draft", "writing", (string?)null, "Draft ${{ inputs.topic }}"), (draft.Id, draft.Queue, draft.Role, draft.Title));
        Assert.Equal(new SourcePosition(15, 5), draft.Position);
        Assert.Empty(draft.Needs);
        Assert.Equal("""{"topic":"${{ inputs.topic }}","words":800,"nested":["x",{"y":true}]}""", draft.Input!.ToJsonString());
        Assert.Equal("content", draft.Labels["team"]);
        Assert.Equal(new RetryPolicy(3, null, 10, 3, 120), draft.Retry);
        Assert.Equal(TimeSpan.FromSeconds(90), draft.Retry!.DelayAfter(3));
        Assert.Equal(TimeSpan.FromSeconds(120), draft.Retry.DelayAfter(4));
        Assert.Equal(600, draft.TimeoutSeconds);

        var approve = Assert.IsType<ApprovalStep>(d.Steps[1]);
        Assert.Equal((2, "tasks:respond", (int?)3600, ApprovalExpiry.Approve, true, 2),
            (approve.Votes, approve.From, approve.ExpiresInSeconds, approve.OnExpiry, approve.AllowSelfApproval, approve.Rejections));
        Assert.Equal(["draft"], approve.Needs);

        var pause = Assert.IsType<WaitStep>(d.Steps[2]);
        Assert.Equal(((int?)null, "go-live", (int?)60, WaitTimeout.Continue), (pause.Seconds, pause.Signal, pause.TimeoutSeconds, pause.OnTimeout));
        Assert.Equal(30, Assert.IsType<WaitStep>(d.Steps[3]).Seconds);

        var child = Assert.IsType<ChildWorkflowStep>(d.Steps[4]);
        Assert.Equal(("announce", (int?)3, (string?)null, "inputs.words > 100"), (child.Workflow, child.Version, child.Label, child.When));
        Assert.Equal("${{ steps.draft.output.text }}", child.Inputs["text"]!.GetValue<string>());
        Assert.Equal(WorkflowStepKind.Workflow, child.Kind);
    }

    [Fact]
    public void Parse_Defaults_AreTheDocumentedOnes()
    {
        var result = Parse("""
            name: w
            steps:
              - id: a
                kind: approval
                from: admin
              - id: b
                kind: wait
                signal: go
            """);

        Assert.True(result.IsValid, string.Join('\n', result.Problems));
        var a = Assert.IsType<ApprovalStep>(result.Definition!.Steps[0]);
        Assert.Equal((1, 1, false, ApprovalExpiry.Reject, (int?)null), (a.Votes, a.Rejections, a.AllowSelfApproval, a.OnExpiry, a.ExpiresInSeconds));
        Assert.Equal(WaitTimeout.Fail, Assert.IsType<WaitStep>(result.Definition.Steps[1]).OnTimeout);
    }

    [Fact]
    public void Parse_ExpressionProblems_AreReportedAtTheirCharacter_InEveryScalarStyle()
    {
        var result = Parse("""
            name: w
            inputs:
              topic: { type: string }
            steps:
              - id: draft
                kind: task
                queue: q
                title: "Draft ${{ inputs.topik }} now"
                input:
                  body: |
                    Hello ${{ steps.review.output.text }}
                    and ${{ inputs.topic + }}
              - id: review
                kind: task
                queue: q
                needs: [draft]
                when: steps.draft.output.ok && steps.ghost.output
                labels:
                  note: 'it''s ${{ inputs.nope }}'
            """);

        Assert.Equal(
            [(DefinitionProblemCodes.UnknownInput, 8, 23, "steps[0].title"),
             (DefinitionProblemCodes.NotUpstream, 11, 19, "steps[0].input.body"),
             (DefinitionProblemCodes.InvalidExpression, 12, 30, "steps[0].input.body"),
             (DefinitionProblemCodes.UnknownStep, 17, 36, "steps[1].when"),
             (DefinitionProblemCodes.UnknownInput, 19, 24, "steps[1].labels.note")],
            result.Problems.Select(p => (p.Code, p.Line, p.Column, p.Path)));
        Assert.Contains("steps.review is not upstream of draft; add it to needs", result.Problems[1].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownField_NamesItAndSuggestsTheClosest()
    {
        var p = Single("""
            name: w
            steps:
              - id: a
                kind: task
                queue: q
                neds: [b]
            """, DefinitionProblemCodes.UnknownField);

        Assert.Equal((6, 5, "steps[0].neds"), (p.Line, p.Column, p.Path));
        Assert.Contains("'neds'", p.Message, StringComparison.Ordinal);
        Assert.Contains("did you mean 'needs'?", p.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_FieldOfAnotherKind_SaysWhichKindItBelongsTo()
    {
        var p = Single("""
            name: w
            steps:
              - id: a
                kind: task
                queue: q
                votes: 2
            """, DefinitionProblemCodes.UnknownField);

        Assert.Equal((6, 5), (p.Line, p.Column));
        Assert.Contains("belongs to approval steps", p.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_MissingFields_AreReportedAtTheirMapping()
    {
        var result = Parse("""
            steps:
              - kind: task
                queue: q
            """);

        Assert.Contains(result.Problems, p => p is { Code: DefinitionProblemCodes.MissingField, Line: 1, Column: 1 } && p.Message.Contains("'name'", StringComparison.Ordinal));
        Assert.Contains(result.Problems, p => p is { Code: DefinitionProblemCodes.MissingField, Line: 2, Column: 5, Path: "steps[0]" } && p.Message.Contains("'id'", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_WrongTypes_AreReportedWithTheValuePosition()
    {
        var result = Parse("""
            name: w
            steps:
              - id: a
                kind: task
                queue: q
                title: 42
                timeoutSeconds: soon
                needs: a
                labels:
                  team: 7
            """);

        Assert.Contains(result.Problems, p => p is { Code: DefinitionProblemCodes.WrongType, Line: 6, Column: 12, Path: "steps[0].title" });
        Assert.Contains(result.Problems, p => p is { Code: DefinitionProblemCodes.WrongType, Line: 7, Column: 21, Path: "steps[0].timeoutSeconds" });
        Assert.Contains(result.Problems, p => p is { Code: DefinitionProblemCodes.WrongType, Line: 8, Column: 12, Path: "steps[0].needs" });
        Assert.Contains(result.Problems, p => p is { Code: DefinitionProblemCodes.WrongType, Line: 10, Column: 13, Path: "steps[0].labels.team" });
    }

    [Fact]
    public void Parse_DuplicateStepIds_PointsAtTheSecond()
    {
        var p = Single("""
            name: w
            steps:
              - id: a
                kind: wait
                seconds: 1
              - id: a
                kind: wait
                seconds: 2
            """, DefinitionProblemCodes.DuplicateStep);

        Assert.Equal((6, 9, "steps[1].id"), (p.Line, p.Column, p.Path));
        Assert.Contains("line 3", p.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownNeed_IsReportedAtTheNeedWithASuggestion()
    {
        var p = Single("""
            name: w
            steps:
              - id: draft
                kind: wait
                seconds: 1
              - id: b
                kind: wait
                seconds: 1
                needs: [draft, drafts]
            """, DefinitionProblemCodes.UnknownNeed);

        Assert.Equal((9, 20, "steps[1].needs[1]"), (p.Line, p.Column, p.Path));
        Assert.Contains("did you mean 'draft'?", p.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_Cycle_NamesTheStepsOnIt()
    {
        var result = Parse("""
            name: w
            steps:
              - id: start
                kind: wait
                seconds: 1
              - id: a
                kind: wait
                seconds: 1
                needs: [start, c]
              - id: b
                kind: wait
                seconds: 1
                needs: [a]
              - id: c
                kind: wait
                seconds: 1
                needs: [b]
              - id: after
                kind: wait
                seconds: 1
                needs: [c]
              - id: self
                kind: wait
                seconds: 1
                needs: [self]
            """);

        var cycles = result.Problems.Where(p => p.Code == DefinitionProblemCodes.Cycle).ToList();
        Assert.Equal(2, cycles.Count);
        Assert.Contains("a → b → c → a", cycles[0].Message, StringComparison.Ordinal);
        Assert.Equal((9, 12, "steps[1].needs"), (cycles[0].Line, cycles[0].Column, cycles[0].Path));
        Assert.Contains("'self' needs itself", cycles[1].Message, StringComparison.Ordinal);
        Assert.DoesNotContain("start", cycles[0].Message, StringComparison.Ordinal);
        Assert.DoesNotContain("after", cycles[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownKind_SuggestsAKind()
    {
        var p = Single("""
            name: w
            steps:
              - id: a
                kind: aproval
                from: admin
            """, DefinitionProblemCodes.UnknownKind);

        Assert.Equal((4, 11), (p.Line, p.Column));
        Assert.Contains("did you mean 'approval'?", p.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("queue: q\n    role: r", "both")]
    [InlineData("title: t", "needs 'queue'")]
    public void Parse_QueueAndRole_ExactlyOneIsRequired(string fields, string expected)
    {
        var p = Single($"name: w\nsteps:\n  - id: a\n    kind: task\n    {fields}\n", DefinitionProblemCodes.QueueOrRole);

        Assert.Contains(expected, p.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_RolesAreCheckedOnlyWhenTheCallerKnowsThem()
    {
        const string yaml = """
            name: w
            steps:
              - id: a
                kind: task
                role: writer
              - id: b
                kind: approval
                from: editors
              - id: c
                kind: approval
                from: tasks:respond
            """;

        Assert.True(Parse(yaml).IsValid);
        var result = Parse(yaml, new WorkflowValidationOptions { KnownRoles = new HashSet<string> { "writer", "editor" } });
        var p = Assert.Single(result.Problems);
        Assert.Equal((DefinitionProblemCodes.UnknownRole, 8, 11, "steps[1].from"), (p.Code, p.Line, p.Column, p.Path));
        Assert.Contains("did you mean 'editor'?", p.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("kind: approval\n    from: admin\n    votes: 0", "votes must be between 1 and 1000")]
    [InlineData("kind: wait\n    seconds: -5", "seconds must be zero or more")]
    [InlineData("kind: task\n    queue: q\n    timeoutSeconds: -1", "timeoutSeconds must be at least 1")]
    [InlineData("kind: approval\n    from: admin\n    onExpiry: maybe", "onExpiry must be reject or approve")]
    [InlineData("kind: task\n    queue: q\n    retry: { attempts: 0 }", "attempts must be between 1 and 100")]
    public void Parse_BadValues_AreInvalidValue(string fields, string expected)
    {
        var p = Single($"name: w\nsteps:\n  - id: a\n    {fields}\n", DefinitionProblemCodes.InvalidValue);

        Assert.Contains(expected, p.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Draft")]
    [InlineData("1st")]
    [InlineData("has space")]
    [InlineData("a.b")]
    [InlineData("abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl")]
    public void Parse_BadStepIds_AreInvalidIdentifiers(string id)
    {
        var p = Single($"name: w\nsteps:\n  - id: \"{id}\"\n    kind: wait\n    seconds: 1\n", DefinitionProblemCodes.InvalidIdentifier);

        Assert.Equal((3, 9, "steps[0].id"), (p.Line, p.Column, p.Path));
    }

    [Fact]
    public void Parse_AnIdOf63Characters_IsAccepted()
    {
        Assert.True(Parse($"name: w\nsteps:\n  - id: a{new string('b', 62)}\n    kind: wait\n    seconds: 1\n").IsValid);
    }

    [Theory]
    [InlineData("string", "42")]
    [InlineData("integer", "1.5")]
    [InlineData("number", "yes")]
    [InlineData("boolean", "1")]
    [InlineData("object", "[1]")]
    [InlineData("array", "{ a: 1 }")]
    public void Parse_DefaultOfTheWrongType_IsInvalidDefault(string type, string value)
    {
        var p = Single($"name: w\ninputs:\n  x:\n    type: {type}\n    default: {value}\nsteps:\n  - id: a\n    kind: wait\n    seconds: 1\n",
            DefinitionProblemCodes.InvalidDefault);

        Assert.Equal((5, 14, "inputs.x.default"), (p.Line, p.Column, p.Path));
    }

    [Fact]
    public void Parse_ConflictingFields_AreReported()
    {
        var result = Parse("""
            name: w
            inputs:
              x: { type: string, required: true, default: hi }
            steps:
              - id: a
                kind: wait
                seconds: 5
                signal: go
              - id: b
                kind: workflow
                workflow: child
                version: 2
                label: stable
              - id: c
                kind: task
                queue: q
                retry: { attempts: 2, backoffSeconds: 5, initialSeconds: 5 }
              - id: d
                kind: wait
                seconds: 5
                timeoutSeconds: 10
            """);

        Assert.Equal(5, result.Problems.Count(p => p.Code == DefinitionProblemCodes.ConflictingFields));
    }

    [Fact]
    public void Parse_SeveralProblems_AreAllReportedInSourceOrder()
    {
        var result = Parse("""
            name: Bad Name
            colour: blue
            steps:
              - id: a
                kind: task
              - id: b
                kind: wait
                needs: [zzz]
                seconds: -1
              - kind: nope
            """);

        Assert.Equal(
            [DefinitionProblemCodes.InvalidIdentifier, DefinitionProblemCodes.UnknownField, DefinitionProblemCodes.QueueOrRole,
             DefinitionProblemCodes.UnknownNeed, DefinitionProblemCodes.InvalidValue, DefinitionProblemCodes.MissingField, DefinitionProblemCodes.UnknownKind],
            result.Problems.Select(p => p.Code));
        Assert.Equal(result.Problems.OrderBy(p => p.Line).ThenBy(p => p.Column), result.Problems);
    }

    [Fact]
    public void Parse_YamlSyntaxError_HasItsLineAndColumn()
    {
        var p = Assert.Single(Parse("name: w\nsteps:\n  - id: a\n    kind: [task\n").Problems);

        Assert.Equal(DefinitionProblemCodes.YamlSyntax, p.Code);
        Assert.True(p.Line >= 4, p.ToString());
        Assert.DoesNotContain("Idx:", p.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_DuplicateKey_IsReported()
    {
        var p = Single("name: w\nname: v\nsteps:\n  - id: a\n    kind: wait\n    seconds: 1\n", DefinitionProblemCodes.DuplicateKey);

        Assert.Equal((2, 1), (p.Line, p.Column));
    }

    [Fact]
    public void Parse_AnchorsAndAliases_AreRefusedOnce()
    {
        var result = Parse("""
            name: w
            steps:
              - &s
                id: a
                kind: wait
                seconds: 1
              - *s
              - *s
            """);

        var p = Assert.Single(result.Problems, p => p.Code == DefinitionProblemCodes.AliasRefused);
        Assert.Equal((3, 5), (p.Line, p.Column));
        Assert.Null(result.Definition);
    }

    [Fact]
    public void Parse_BillionLaughs_IsRefusedWithoutExpanding()
    {
        var yaml = new StringBuilder("name: w\nlol0: &l0 [lol]\n");
        for (var i = 1; i < 30; i++)
        {
            yaml.Append($"lol{i}: &l{i} [*l{i - 1}, *l{i - 1}, *l{i - 1}, *l{i - 1}, *l{i - 1}, *l{i - 1}, *l{i - 1}, *l{i - 1}, *l{i - 1}]\n");
        }

        yaml.Append("steps: *l29\n");
        var result = Parse(yaml.ToString());

        Assert.Contains(result.Problems, p => p.Code == DefinitionProblemCodes.AliasRefused);
        Assert.Null(result.Definition);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Parse_DeepNesting_IsRefusedCleanly(bool flow)
    {
        var depth = 5000;
        var yaml = flow
            ? "name: w\nsteps:\n  - id: a\n    kind: task\n    queue: q\n    input: " + new string('[', depth) + new string(']', depth) + "\n"
            : "name: w\nx:\n" + string.Concat(Enumerable.Range(1, 200).Select(i => new string(' ', i) + "a:\n"));

        var result = Parse(yaml);

        Assert.Null(result.Definition);
        Assert.Contains(result.Problems, p => p.Code is DefinitionProblemCodes.TooDeep or DefinitionProblemCodes.YamlSyntax);
    }

    [Fact]
    public void Parse_NestingAtTheLimit_IsAccepted()
    {
        var inner = new string('[', YamlReader.MaxDepth - 3) + new string(']', YamlReader.MaxDepth - 3);
        var result = Parse($"name: w\nsteps:\n  - id: a\n    kind: task\n    queue: q\n    input: {inner}\n");

        Assert.True(result.IsValid, string.Join('\n', result.Problems));
    }

    [Fact]
    public void Parse_OverTheSizeLimit_IsTooLarge()
    {
        var yaml = "name: w\ndescription: " + new string('x', WorkflowDefinitionParser.MaxBytes) + "\n";

        var p = Assert.Single(Parse(yaml).Problems);

        Assert.Equal(DefinitionProblemCodes.TooLarge, p.Code);
        Assert.Equal(1024 * 1024, WorkflowDefinitionParser.MaxBytes);
    }

    [Fact]
    public void Parse_MoreStepsThanTheLimit_IsTooManySteps()
    {
        var yaml = new StringBuilder("name: w\nsteps:\n");
        for (var i = 0; i < 6; i++)
        {
            yaml.Append($"  - {{ id: s{i}, kind: wait, seconds: 1 }}\n");
        }

        var result = Parse(yaml.ToString(), new WorkflowValidationOptions { MaxSteps = 5 });

        var p = Assert.Single(result.Problems);
        Assert.Equal((DefinitionProblemCodes.TooManySteps, 3, 3), (p.Code, p.Line, p.Column));
        Assert.True(Parse(yaml.ToString()).IsValid);
    }

    [Fact]
    public void Parse_TenThousandSteps_IsValidAndLayered()
    {
        var yaml = new StringBuilder("name: w\nsteps:\n  - { id: s0, kind: wait, seconds: 1 }\n");
        for (var i = 1; i < WorkflowDefinitionParser.DefaultMaxSteps; i++)
        {
            yaml.Append($"  - {{ id: s{i}, kind: wait, seconds: 1, needs: [s{i - 1}] }}\n");
        }

        var result = Parse(yaml.ToString());

        Assert.True(result.IsValid, string.Join('\n', result.Problems.Take(3)));
        Assert.Equal(WorkflowDefinitionParser.DefaultMaxSteps, WorkflowGraph.Layers(result.Definition!).Count);
    }

    [Fact]
    public void Parse_ManyUnknownAndRepeatedNeedsAmongManySteps_ReportsThemAll()
    {
        // Shaped to make quadratic checks (repeats, suggestions among thousands of ids) show: it must simply finish.
        var yaml = new StringBuilder("name: w\nsteps:\n");
        for (var i = 0; i < 3000; i++)
        {
            yaml.Append($"  - {{ id: step-{i}, kind: wait, seconds: 1 }}\n");
        }

        yaml.Append("  - id: last\n    kind: wait\n    seconds: 1\n    needs: [");
        yaml.AppendJoin(", ", Enumerable.Range(0, 4000).Select(i => $"stop-{i}"));
        yaml.Append(", ").AppendJoin(", ", Enumerable.Repeat("step-1", 20000)).Append("]\n");

        var result = Parse(yaml.ToString());

        Assert.Equal(4000, result.Problems.Count(p => p.Code == DefinitionProblemCodes.UnknownNeed));
        Assert.Equal(19999, result.Problems.Count(p => p.Code == DefinitionProblemCodes.DuplicateNeed));
    }

    [Fact]
    public void Parse_MisspeltStartOfALongerField_IsSuggested()
    {
        var p = Single("name: w\nsteps:\n  - id: a\n    kind: task\n    queue: q\n    tiemout: 5\n", DefinitionProblemCodes.UnknownField);

        Assert.Contains("did you mean 'timeoutSeconds'?", p.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("# only a comment\n")]
    [InlineData("- a\n- b\n")]
    [InlineData("just text")]
    public void Parse_NotAMapping_IsOneClearProblem(string yaml)
    {
        var p = Assert.Single(Parse(yaml).Problems);

        Assert.Equal(DefinitionProblemCodes.WrongType, p.Code);
    }

    [Fact]
    public void Parse_SecondDocument_IsRefused()
    {
        var result = Parse("name: w\nsteps:\n  - id: a\n    kind: wait\n    seconds: 1\n---\nname: v\n");

        var p = Assert.Single(result.Problems);
        Assert.Equal((DefinitionProblemCodes.MultipleDocuments, 6), (p.Code, p.Line));
    }

    [Fact]
    public void Parse_CustomTag_IsRefused_AndStrTagMakesAString()
    {
        var p = Single("name: w\nsteps:\n  - id: a\n    kind: task\n    queue: q\n    input: !python/object x\n", DefinitionProblemCodes.UnsupportedTag);
        Assert.Equal((6, 12), (p.Line, p.Column));

        var ok = Parse("name: w\nsteps:\n  - id: a\n    kind: task\n    queue: q\n    title: !!str 42\n");
        Assert.True(ok.IsValid, string.Join('\n', ok.Problems));
        Assert.Equal("42", ((TaskStep)ok.Definition!.Steps[0]).Title);
    }

    [Fact]
    public void Parse_CrLfAndBom_KeepLinesAndColumns()
    {
        var p = Single("\uFEFFname: w\r\nsteps:\r\n  - id: a\r\n    kind: wait\r\n    seconds: -1\r\n", DefinitionProblemCodes.InvalidValue);

        Assert.Equal((5, 14), (p.Line, p.Column));
    }

    [Fact]
    public void ToJson_TypesScalarsByTheCoreSchema()
    {
        var (json, problems) = WorkflowDefinitionParser.ToJson("a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: yes\ng: 0x1F\nh: [1, x]\n");

        Assert.Empty(problems);
        Assert.Equal("""{"a":1,"b":1.5,"c":true,"d":null,"e":"1","f":"yes","g":31,"h":[1,"x"]}""", json!.ToJsonString());
        Assert.IsType<JsonObject>(json);
    }
}
