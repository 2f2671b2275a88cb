using System.Text.Json.Nodes;
using Clarity.Features.Workflows.Expressions;
using static Clarity.Features.Workflows.Definitions.DefinitionProblemCodes;

namespace Clarity.Features.Workflows.Definitions;

public static partial class WorkflowDefinitionParser
{
    internal static readonly string[] RootFields = ["name", "description", "inputs", "steps"];
    internal static readonly string[] InputFields = ["type", "required", "default", "description"];
    internal static readonly string[] CommonStepFields = ["id", "kind", "needs", "when", "description"];
    internal static readonly string[] RetryFields = ["attempts", "backoffSeconds", "initialSeconds", "factor", "maxSeconds"];

    internal static readonly Dictionary<string, string[]> KindFields = new(StringComparer.Ordinal)
    {
        ["task"] = ["queue", "role", "title", "input", "labels", "retry", "timeoutSeconds"],
        ["approval"] = ["votes", "from", "expiresInSeconds", "onExpiry", "allowSelfApproval", "rejections"],
        ["wait"] = ["seconds", "signal", "timeoutSeconds", "onTimeout"],
        ["workflow"] = ["workflow", "version", "label", "inputs"],
    };

    private static readonly Dictionary<string, WorkflowInputType> InputTypes = new(StringComparer.Ordinal)
    {
        ["string"] = WorkflowInputType.String,
        ["number"] = WorkflowInputType.Number,
        ["integer"] = WorkflowInputType.Integer,
        ["boolean"] = WorkflowInputType.Boolean,
        ["object"] = WorkflowInputType.Object,
        ["array"] = WorkflowInputType.Array,
    };

    /// <summary>Walks the YAML tree once, building the model and collecting every problem on the way.</summary>
    private sealed class Validator(List<DefinitionProblem> problems, WorkflowValidationOptions options)
    {
        private readonly List<ReferenceSite> _sites = [];
        private readonly SuggestionBudget _budget = new();
        private List<string> _stepIds = [];
        private List<IReadOnlyList<string>> _stepNeeds = [];
        private readonly Dictionary<int, List<string>> _needsByIndex = [];

        public WorkflowDefinition? Run(YNode? root)
        {
            if (root is not YMapping map)
            {
                var at = root?.Position ?? SourcePosition.Start;
                Add(at, "", WrongType, root is null
                    ? "the file is empty; a workflow needs at least 'name' and 'steps'"
                    : $"a workflow is a mapping with 'name' and 'steps', not {root.Describe()}");
                return null;
            }

            CheckFields(map, "", RootFields, null);
            var name = RequiredString(map, "name", "", "name");
            if (name is not null && !Identifier().IsMatch(name.Value))
            {
                Add(name, "name", InvalidIdentifier, $"the workflow name '{Clip(name.Value)}' must be a lower-case letter followed by up to 62 of a-z, 0-9, '_' and '-'");
            }

            var description = OptionalString(map, "description", "description");
            var inputs = ReadInputs(map.Get("inputs"));
            var steps = ReadSteps(map);

            var inputNames = new HashSet<string>(inputs.Select(i => i.Name), StringComparer.Ordinal);
            problems.AddRange(CheckReferences(inputNames, _stepIds, _stepNeeds, _sites, _budget));
            return name is null ? null : new WorkflowDefinition(name.Value, description, inputs, steps);
        }

        private List<WorkflowInput> ReadInputs(YNode? node)
        {
            var inputs = new List<WorkflowInput>();
            if (node is null || IsNull(node))
            {
                return inputs;
            }

            if (node is not YMapping map)
            {
                Add(node, "inputs", WrongType, $"inputs must be a mapping of input names to their declarations, not {node.Describe()}");
                return inputs;
            }

            foreach (var (key, value) in map.Entries)
            {
                var path = $"inputs.{key.Value}";
                if (!Identifier().IsMatch(key.Value))
                {
                    Add(key, path, InvalidIdentifier, $"the input name '{Clip(key.Value)}' must be a lower-case letter followed by up to 62 of a-z, 0-9, '_' and '-'");
                }

                if (value is not YMapping decl)
                {
                    Add(value, path, WrongType, $"input '{Clip(key.Value)}' must be a mapping with at least 'type', not {value.Describe()}");
                    continue;
                }

                CheckFields(decl, path, InputFields, null);
                var typeNode = RequiredString(decl, "type", path, $"{path}.type");
                WorkflowInputType? type = null;
                if (typeNode is not null)
                {
                    if (InputTypes.TryGetValue(typeNode.Value, out var t))
                    {
                        type = t;
                    }
                    else
                    {
                        Add(typeNode, $"{path}.type", InvalidValue,
                            $"'{Clip(typeNode.Value)}' is not an input type; use string, number, integer, boolean, object or array{Suggest(typeNode.Value, InputTypes.Keys)}");
                    }
                }

                var required = OptionalBool(decl, "required", $"{path}.required") ?? false;
                var defaultNode = decl.Get("default");
                JsonNode? defaultValue = null;
                if (defaultNode is not null)
                {
                    defaultValue = defaultNode.ToJson();
                    if (type is { } declared && !Matches(defaultNode, declared))
                    {
                        Add(defaultNode, $"{path}.default", InvalidDefault,
                            $"the default of '{Clip(key.Value)}' is {defaultNode.Describe()}, not {declared.ToString().ToLowerInvariant()}");
                    }

                    if (required && !IsNull(defaultNode))
                    {
                        Add(decl.KeyOf("required")!, $"{path}.required", ConflictingFields,
                            $"input '{Clip(key.Value)}' is required and has a default; drop one (a default makes it optional)");
                    }
                }

                var description = OptionalString(decl, "description", $"{path}.description");
                if (type is { } ok)
                {
                    inputs.Add(new WorkflowInput(key.Value, ok, required, defaultValue, description, key.Position));
                }
            }

            return inputs;
        }

        private static bool Matches(YNode value, WorkflowInputType type) => value switch
        {
            YScalar { Type: YScalarType.Null } => true,
            YScalar s => type switch
            {
                WorkflowInputType.String => s.IsString,
                WorkflowInputType.Boolean => s.Type == YScalarType.Boolean,
                WorkflowInputType.Integer => s.TryInteger(out _),
                WorkflowInputType.Number => s.TryNumber(out _),
                _ => false,
            },
            YMapping => type == WorkflowInputType.Object,
            YSequence => type == WorkflowInputType.Array,
            _ => false,
        };

        private List<WorkflowStep> ReadSteps(YMapping root)
        {
            var steps = new List<WorkflowStep>();
            var node = root.Get("steps");
            if (node is null)
            {
                Add(root, "", MissingField, "a workflow needs 'steps', a list of at least one step");
                return steps;
            }

            if (node is not YSequence list)
            {
                Add(node, "steps", WrongType, $"steps must be a list of steps, not {node.Describe()}");
                return steps;
            }

            if (list.Items.Count == 0)
            {
                Add(list, "steps", MissingField, "steps is empty; a workflow needs at least one step");
                return steps;
            }

            if (list.Items.Count > options.MaxSteps)
            {
                Add(list, "steps", TooManySteps, $"the workflow has {list.Items.Count:N0} steps; at most {options.MaxSteps:N0} are allowed");
            }

            // Read every step first, then check what spans steps: duplicate ids, needs, cycles.
            var read = new List<(WorkflowStep? Step, YScalar? Id, YSequence? Needs, string Path)>();
            for (var i = 0; i < list.Items.Count; i++)
            {
                read.Add(ReadStep(list.Items[i], i));
            }

            var firstIndex = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var i = 0; i < read.Count; i++)
            {
                if (read[i].Id is not { } id)
                {
                    continue;
                }

                if (!firstIndex.TryAdd(id.Value, i))
                {
                    var first = read[firstIndex[id.Value]].Id!.Position;
                    Add(id, $"{read[i].Path}.id", DuplicateStep, $"the step id '{Clip(id.Value)}' is already used by steps[{firstIndex[id.Value]}] (line {first.Line})");
                }
            }

            foreach (var (_, _, needs, path) in read)
            {
                if (needs is null)
                {
                    continue;
                }

                for (var n = 0; n < needs.Items.Count; n++)
                {
                    if (needs.Items[n] is YScalar { IsString: true } need && !firstIndex.ContainsKey(need.Value))
                    {
                        Add(need, $"{path}.needs[{n}]", UnknownNeed, $"needs names '{Clip(need.Value)}', which is no step{Suggest(need.Value, firstIndex.Keys, _budget)}");
                    }
                }
            }

            var ids = read.Select(r => r.Id?.Value ?? "").ToList();
            var needLists = Enumerable.Range(0, read.Count).Select(i => _needsByIndex.TryGetValue(i, out var n) ? n : (IReadOnlyList<string>)[]).ToList();
            (_stepIds, _stepNeeds) = (ids, needLists);
            foreach (var cycle in WorkflowGraph.FindCycles(ids, needLists))
            {
                var names = string.Join(" → ", cycle.Append(cycle[0]).Select(i => ids[i]));
                var at = (YNode?)read[cycle[0]].Needs ?? read[cycle[0]].Id!;
                Add(at, $"{read[cycle[0]].Path}.needs", Cycle, cycle.Count == 1
                    ? $"step '{ids[cycle[0]]}' needs itself"
                    : $"these steps need each other in a cycle: {names}");
            }

            foreach (var r in read)
            {
                if (r.Step is not null)
                {
                    steps.Add(r.Step);
                }
            }

            return steps.Count == read.Count ? steps : [];
        }

        private (WorkflowStep? Step, YScalar? Id, YSequence? Needs, string Path) ReadStep(YNode node, int index)
        {
            var path = $"steps[{index}]";
            if (node is not YMapping map)
            {
                Add(node, path, WrongType, $"a step must be a mapping with 'id' and 'kind', not {node.Describe()}");
                return (null, null, null, path);
            }

            var idNode = RequiredString(map, "id", path, $"{path}.id");
            if (idNode is not null && !Identifier().IsMatch(idNode.Value))
            {
                Add(idNode, $"{path}.id", InvalidIdentifier, $"the step id '{Clip(idNode.Value)}' must be a lower-case letter followed by up to 62 of a-z, 0-9, '_' and '-'");
            }

            var kindNode = RequiredString(map, "kind", path, $"{path}.kind");
            string? kind = null;
            if (kindNode is not null)
            {
                if (KindFields.ContainsKey(kindNode.Value))
                {
                    kind = kindNode.Value;
                }
                else
                {
                    Add(kindNode, $"{path}.kind", UnknownKind,
                        $"'{Clip(kindNode.Value)}' is not a step kind; use task, approval, wait or workflow{Suggest(kindNode.Value, KindFields.Keys)}");
                }
            }

            CheckFields(map, path, kind is null ? null : [.. CommonStepFields, .. KindFields[kind]], kind);
            var needsNode = map.Get("needs");
            var needs = ReadNeeds(needsNode, $"{path}.needs");
            _needsByIndex[index] = needs;
            var id = idNode?.Value ?? "";
            var when = map.Get("when");
            string? whenText = null;
            if (when is YScalar { Type: YScalarType.String or YScalarType.Boolean } whenScalar)
            {
                whenText = whenScalar.Value;
                CheckExpression(whenScalar, $"{path}.when", index, condition: true);
            }
            else if (when is not null)
            {
                Add(when, $"{path}.when", WrongType, $"when must be a condition (a string or a boolean), not {when.Describe()}");
            }

            var description = OptionalString(map, "description", $"{path}.description");
            var at = map.Position;
            WorkflowStep? step = kind switch
            {
                "task" => ReadTask(map, path, index, id, needs, whenText, description, at),
                "approval" => ReadApproval(map, path, id, needs, whenText, description, at),
                "wait" => ReadWait(map, path, id, needs, whenText, description, at),
                "workflow" => ReadChild(map, path, index, id, needs, whenText, description, at),
                _ => null,
            };
            return (idNode is null ? null : step, idNode, needsNode as YSequence, path);
        }

        private List<string> ReadNeeds(YNode? node, string path)
        {
            var needs = new List<string>();
            if (node is null || IsNull(node))
            {
                return needs;
            }

            if (node is not YSequence list)
            {
                Add(node, path, WrongType, $"needs must be a list of step ids, e.g. [draft], not {node.Describe()}");
                return needs;
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < list.Items.Count; i++)
            {
                if (list.Items[i] is not YScalar { IsString: true } need)
                {
                    Add(list.Items[i], $"{path}[{i}]", WrongType, $"a need must be a step id, not {list.Items[i].Describe()}");
                }
                else if (!seen.Add(need.Value))
                {
                    Add(need, $"{path}[{i}]", DuplicateNeed, $"'{Clip(need.Value)}' is listed twice in needs");
                }
                else
                {
                    needs.Add(need.Value);
                }
            }

            return needs;
        }

        private TaskStep ReadTask(YMapping map, string path, int index, string id, List<string> needs, string? when, string? description, SourcePosition at)
        {
            var queue = OptionalString(map, "queue", $"{path}.queue");
            var role = OptionalString(map, "role", $"{path}.role");
            if ((queue is null) == (role is null))
            {
                var where = map.KeyOf("role") ?? map.KeyOf("queue") ?? (YNode)map;
                Add(where, path, QueueOrRole, queue is null
                    ? $"task '{id}' needs 'queue' (a queue name) or 'role' (an agent role)"
                    : $"task '{id}' has both 'queue' and 'role'; keep one");
            }

            CheckName(map, "queue", queue, $"{path}.queue");
            CheckName(map, "role", role, $"{path}.role");
            CheckRole(map, "role", role, $"{path}.role");

            var title = map.Get("title");
            string? titleText = null;
            if (title is YScalar { IsString: true } titleScalar)
            {
                titleText = titleScalar.Value;
                CheckExpression(titleScalar, $"{path}.title", index, condition: false);
            }
            else if (title is not null && !IsNull(title))
            {
                Add(title, $"{path}.title", WrongType, $"title must be a string, not {title.Describe()}{QuoteHint(title)}");
            }

            var input = map.Get("input");
            if (input is not null)
            {
                CheckTemplates(input, $"{path}.input", index);
            }

            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            if (map.Get("labels") is { } labelsNode && !IsNull(labelsNode))
            {
                if (labelsNode is not YMapping labelMap)
                {
                    Add(labelsNode, $"{path}.labels", WrongType, $"labels must be a mapping of names to strings, not {labelsNode.Describe()}");
                }
                else
                {
                    foreach (var (key, value) in labelMap.Entries)
                    {
                        var labelPath = $"{path}.labels.{key.Value}";
                        if (!Name().IsMatch(key.Value))
                        {
                            Add(key, labelPath, InvalidIdentifier, $"the label name '{Clip(key.Value)}' must be letters, digits, '_', '-', '.' or ':' (up to 128)");
                        }

                        if (value is YScalar { IsString: true } s)
                        {
                            labels[key.Value] = s.Value;
                            CheckExpression(s, labelPath, index, condition: false);
                        }
                        else
                        {
                            Add(value, labelPath, WrongType, $"a label value must be a string, not {value.Describe()}; quote it");
                        }
                    }
                }
            }

            var retry = ReadRetry(map.Get("retry"), $"{path}.retry");
            var timeout = OptionalInt(map, "timeoutSeconds", $"{path}.timeoutSeconds", 1, int.MaxValue);
            return new TaskStep(id, needs, when, description, at, queue, role, titleText, input?.ToJson(), labels, retry, timeout);
        }

        private RetryPolicy? ReadRetry(YNode? node, string path)
        {
            if (node is null || IsNull(node))
            {
                return null;
            }

            if (node is not YMapping map)
            {
                Add(node, path, WrongType, $"retry must be a mapping such as {{ attempts: 3, backoffSeconds: 30 }}, not {node.Describe()}");
                return null;
            }

            CheckFields(map, path, RetryFields, null);
            var attempts = OptionalInt(map, "attempts", $"{path}.attempts", 1, 100);
            if (map.Get("attempts") is null)
            {
                Add(map, path, MissingField, "retry needs 'attempts' (every try, the first included)");
            }

            var fixedSeconds = OptionalInt(map, "backoffSeconds", $"{path}.backoffSeconds", 0, int.MaxValue);
            var initial = OptionalInt(map, "initialSeconds", $"{path}.initialSeconds", 0, int.MaxValue);
            var factor = OptionalNumber(map, "factor", $"{path}.factor", 1, 10);
            var max = OptionalInt(map, "maxSeconds", $"{path}.maxSeconds", 1, int.MaxValue);
            if (map.Get("backoffSeconds") is not null && map.Get("initialSeconds") is not null)
            {
                Add(map.KeyOf("initialSeconds")!, path, ConflictingFields, "retry has both 'backoffSeconds' (fixed) and 'initialSeconds' (exponential); keep one");
            }
            else if (map.Get("initialSeconds") is null && (map.Get("factor") is not null || map.Get("maxSeconds") is not null))
            {
                Add(map.KeyOf("factor") ?? map.KeyOf("maxSeconds")!, path, ConflictingFields, "'factor' and 'maxSeconds' shape an exponential backoff; add 'initialSeconds'");
            }

            return attempts is { } a ? new RetryPolicy(a, fixedSeconds, initial, initial is null ? null : factor ?? 2, max) : null;
        }

        private ApprovalStep ReadApproval(YMapping map, string path, string id, List<string> needs, string? when, string? description, SourcePosition at)
        {
            var votes = OptionalInt(map, "votes", $"{path}.votes", 1, 1000) ?? 1;
            var from = RequiredString(map, "from", path, $"{path}.from");
            if (from is not null)
            {
                CheckName(map, "from", from.Value, $"{path}.from");
                CheckRole(map, "from", from.Value, $"{path}.from");
            }

            var expires = OptionalInt(map, "expiresInSeconds", $"{path}.expiresInSeconds", 1, int.MaxValue);
            var onExpiry = OptionalEnum(map, "onExpiry", $"{path}.onExpiry", ["reject", "approve"]) switch
            {
                "approve" => ApprovalExpiry.Approve,
                _ => ApprovalExpiry.Reject,
            };
            var self = OptionalBool(map, "allowSelfApproval", $"{path}.allowSelfApproval") ?? false;
            var rejections = OptionalInt(map, "rejections", $"{path}.rejections", 1, 1000) ?? 1;
            return new ApprovalStep(id, needs, when, description, at, votes, from?.Value ?? "", expires, onExpiry, self, rejections);
        }

        private WaitStep ReadWait(YMapping map, string path, string id, List<string> needs, string? when, string? description, SourcePosition at)
        {
            var seconds = OptionalInt(map, "seconds", $"{path}.seconds", 0, int.MaxValue);
            var signal = OptionalString(map, "signal", $"{path}.signal");
            CheckName(map, "signal", signal, $"{path}.signal");
            var hasSeconds = map.Get("seconds") is not null;
            var hasSignal = map.Get("signal") is not null;
            if (hasSeconds == hasSignal)
            {
                Add(hasSignal ? map.KeyOf("signal")! : map, path, ConflictingFields, hasSeconds
                    ? $"wait '{id}' has both 'seconds' and 'signal'; keep one"
                    : $"wait '{id}' needs 'seconds' (a duration) or 'signal' (a name to wait for)");
            }

            var timeout = OptionalInt(map, "timeoutSeconds", $"{path}.timeoutSeconds", 1, int.MaxValue);
            var onTimeout = OptionalEnum(map, "onTimeout", $"{path}.onTimeout", ["fail", "continue"]) switch
            {
                "continue" => WaitTimeout.Continue,
                _ => WaitTimeout.Fail,
            };
            if (hasSeconds && !hasSignal && (map.Get("timeoutSeconds") is not null || map.Get("onTimeout") is not null))
            {
                Add(map.KeyOf("timeoutSeconds") ?? map.KeyOf("onTimeout")!, path, ConflictingFields,
                    "'timeoutSeconds' and 'onTimeout' bound a wait for a signal; a wait of 'seconds' ends on its own");
            }

            return new WaitStep(id, needs, when, description, at, seconds, signal, timeout, onTimeout);
        }

        private ChildWorkflowStep ReadChild(YMapping map, string path, int index, string id, List<string> needs, string? when, string? description, SourcePosition at)
        {
            var workflow = RequiredString(map, "workflow", path, $"{path}.workflow");
            if (workflow is not null && !Identifier().IsMatch(workflow.Value))
            {
                Add(workflow, $"{path}.workflow", InvalidIdentifier, $"'{Clip(workflow.Value)}' is not a workflow name (a lower-case letter followed by up to 62 of a-z, 0-9, '_' and '-')");
            }

            var version = OptionalInt(map, "version", $"{path}.version", 1, int.MaxValue);
            var label = OptionalString(map, "label", $"{path}.label");
            CheckName(map, "label", label, $"{path}.label");
            if (map.Get("version") is not null && map.Get("label") is not null)
            {
                Add(map.KeyOf("label")!, path, ConflictingFields, "a child workflow is pinned by 'version' or by 'label', not both");
            }

            var inputs = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
            if (map.Get("inputs") is { } inputsNode && !IsNull(inputsNode))
            {
                if (inputsNode is not YMapping inputMap)
                {
                    Add(inputsNode, $"{path}.inputs", WrongType, $"inputs must be a mapping of the child's input names to values, not {inputsNode.Describe()}");
                }
                else
                {
                    foreach (var (key, value) in inputMap.Entries)
                    {
                        var inputPath = $"{path}.inputs.{key.Value}";
                        if (!Identifier().IsMatch(key.Value))
                        {
                            Add(key, inputPath, InvalidIdentifier, $"'{Clip(key.Value)}' is not an input name (a lower-case letter followed by up to 62 of a-z, 0-9, '_' and '-')");
                        }

                        CheckTemplates(value, inputPath, index);
                        inputs[key.Value] = value.ToJson();
                    }
                }
            }

            return new ChildWorkflowStep(id, needs, when, description, at, workflow?.Value ?? "", version, label, inputs);
        }

        // ---- expressions ----

        private void CheckTemplates(YNode node, string path, int stepIndex)
        {
            // Iterative: the reader caps depth, but a walk that cannot overflow the stack costs nothing more.
            var pending = new Stack<(YNode Node, string Path)>();
            pending.Push((node, path));
            while (pending.TryPop(out var item))
            {
                switch (item.Node)
                {
                    case YScalar { IsString: true } s:
                        CheckExpression(s, item.Path, stepIndex, condition: false);
                        break;
                    case YSequence seq:
                        for (var i = seq.Items.Count - 1; i >= 0; i--)
                        {
                            pending.Push((seq.Items[i], $"{item.Path}[{i}]"));
                        }

                        break;
                    case YMapping map:
                        for (var i = map.Entries.Count - 1; i >= 0; i--)
                        {
                            pending.Push((map.Entries[i].Value, $"{item.Path}.{map.Entries[i].Key.Value}"));
                        }

                        break;
                }
            }
        }

        private void CheckExpression(YScalar scalar, string path, int stepIndex, bool condition)
        {
            var check = condition ? WorkflowExpressions.CheckCondition(scalar.Value) : WorkflowExpressions.CheckTemplate(scalar.Value);
            foreach (var error in check.Errors)
            {
                Add(scalar.Locate(error.Offset), path, InvalidExpression, error.Message);
            }

            foreach (var reference in check.References)
            {
                _sites.Add(new ReferenceSite(stepIndex, reference, scalar.Locate(reference.Offset), path));
            }
        }

        // ---- fields and scalars ----

        private void CheckFields(YMapping map, string path, string[]? allowed, string? kind)
        {
            foreach (var (key, _) in map.Entries)
            {
                var field = key.Value;
                if (allowed is null)
                {
                    // The kind is unknown or missing: only fields no kind knows are reported.
                    if (!CommonStepFields.Contains(field) && !KindFields.Values.Any(f => f.Contains(field)))
                    {
                        Add(key, Join(path, field), UnknownField, $"unknown field '{Clip(field)}'{Suggest(field, CommonStepFields.Concat(KindFields.Values.SelectMany(f => f)))}");
                    }

                    continue;
                }

                if (allowed.Contains(field))
                {
                    continue;
                }

                var owner = kind is null ? null : KindFields.FirstOrDefault(k => k.Value.Contains(field)).Key;
                Add(key, Join(path, field), UnknownField, owner is not null
                    ? $"unknown field '{field}' for a {kind} step; it belongs to {owner} steps"
                    : $"unknown field '{Clip(field)}'{Suggest(field, allowed)}");
            }
        }

        private YScalar? RequiredString(YMapping map, string key, string mapPath, string path)
        {
            var node = map.Get(key);
            if (node is null || IsNull(node))
            {
                Add(node ?? map, node is null ? mapPath : path, MissingField, $"{(mapPath.Length == 0 ? "the workflow" : mapPath)} needs '{key}'");
                return null;
            }

            if (node is YScalar { IsString: true } s)
            {
                if (s.Value.Trim().Length == 0)
                {
                    Add(s, path, InvalidValue, $"{key} must not be blank");
                    return null;
                }

                return s;
            }

            Add(node, path, WrongType, $"{key} must be a string, not {node.Describe()}{QuoteHint(node)}");
            return null;
        }

        private string? OptionalString(YMapping map, string key, string path)
        {
            var node = map.Get(key);
            if (node is null || IsNull(node))
            {
                return null;
            }

            if (node is YScalar { IsString: true } s)
            {
                return s.Value;
            }

            Add(node, path, WrongType, $"{key} must be a string, not {node.Describe()}{QuoteHint(node)}");
            return null;
        }

        private bool? OptionalBool(YMapping map, string key, string path)
        {
            var node = map.Get(key);
            if (node is null || IsNull(node))
            {
                return null;
            }

            if (node is YScalar { Type: YScalarType.Boolean } s)
            {
                return s.Value is "true" or "True" or "TRUE";
            }

            Add(node, path, WrongType, $"{key} must be true or false, not {node.Describe()}");
            return null;
        }

        private int? OptionalInt(YMapping map, string key, string path, int min, int max)
        {
            var node = map.Get(key);
            if (node is null || IsNull(node))
            {
                return null;
            }

            if (node is not YScalar { Type: YScalarType.Integer } s)
            {
                Add(node, path, WrongType, $"{key} must be a whole number, not {node.Describe()}");
                return null;
            }

            if (!s.TryInteger(out var value) || value < min || value > max)
            {
                Add(node, path, InvalidValue, max == int.MaxValue
                    ? $"{key} must be {(min == 0 ? "zero or more" : $"at least {min}")} (and at most {int.MaxValue:N0}), not {Clip(s.Value)}"
                    : $"{key} must be between {min} and {max}, not {Clip(s.Value)}");
                return null;
            }

            return (int)value;
        }

        private double? OptionalNumber(YMapping map, string key, string path, double min, double max)
        {
            var node = map.Get(key);
            if (node is null || IsNull(node))
            {
                return null;
            }

            if (node is not YScalar s || !s.TryNumber(out var value))
            {
                Add(node, path, WrongType, $"{key} must be a number, not {node.Describe()}");
                return null;
            }

            if (value < min || value > max)
            {
                Add(node, path, InvalidValue, $"{key} must be between {min} and {max}, not {Clip(s.Value)}");
                return null;
            }

            return value;
        }

        private string? OptionalEnum(YMapping map, string key, string path, string[] allowed)
        {
            var value = OptionalString(map, key, path);
            if (value is not null && !allowed.Contains(value))
            {
                Add(map.Get(key)!, path, InvalidValue, $"{key} must be {string.Join(" or ", allowed)}, not '{Clip(value)}'{Suggest(value, allowed)}");
                return null;
            }

            return value;
        }

        private void CheckName(YMapping map, string key, string? value, string path)
        {
            if (value is not null && !Name().IsMatch(value))
            {
                Add(map.Get(key)!, path, InvalidIdentifier, $"'{Clip(value)}' is not a valid {key} (letters, digits, '_', '-', '.' or ':', up to 128, starting with a letter or digit)");
            }
        }

        private void CheckRole(YMapping map, string key, string? value, string path)
        {
            if (value is null || options.KnownRoles is not { } roles || roles.Contains(value) || options.KnownPermissions.Contains(value))
            {
                return;
            }

            Add(map.Get(key)!, path, UnknownRole,
                $"'{Clip(value)}' is neither a role of this org nor a permission{Suggest(value, roles.Concat(options.KnownPermissions), _budget)}");
        }

        private static bool IsNull(YNode node) => node is YScalar { Type: YScalarType.Null };

        private static string QuoteHint(YNode node) => node is YScalar ? "; quote it to make it one" : "";

        private static string Join(string path, string field) => path.Length == 0 ? field : $"{path}.{field}";

        private static string Clip(string value) => value.Length <= 64 ? value : value[..61] + "...";

        private void Add(YNode node, string path, string code, string message) => Add(node.Position, path, code, message);

        private void Add(SourcePosition at, string path, string code, string message) =>
            problems.Add(new DefinitionProblem(at.Line, at.Column, path, code, message));
    }
}
