namespace Clarity.Features.Workflows.Definitions;

/// <summary>
/// The DAG of a definition's steps, joined by <c>needs</c>: layers for the engine (every step of a layer can run once
/// the layers before it are done), cycles for the validator, and which steps are upstream of which.
/// </summary>
public static class WorkflowGraph
{
    /// <summary>
    /// The steps in layers: layer 0 needs nothing, each later layer needs only steps of earlier ones; inside a layer
    /// steps keep the file's order. A valid definition has no cycle; a graph with one throws.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<WorkflowStep>> Layers(WorkflowDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var steps = definition.Steps;
        var layers = LayerIndexes([.. steps.Select(s => s.Id)], [.. steps.Select(s => s.Needs)])
            ?? throw new InvalidOperationException("the steps' needs form a cycle");
        return [.. layers.Select(layer => (IReadOnlyList<WorkflowStep>)[.. layer.Select(i => steps[i])])];
    }

    /// <summary>Every step once, each after all the steps it needs (the layers, flattened).</summary>
    public static IReadOnlyList<WorkflowStep> TopologicalOrder(WorkflowDefinition definition) =>
        [.. Layers(definition).SelectMany(layer => layer)];

    /// <summary>The ids of every step <paramref name="stepId"/> depends on, directly or through others.</summary>
    public static IReadOnlySet<string> Upstream(WorkflowDefinition definition, string stepId)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var byId = definition.Steps.ToDictionary(s => s.Id);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>(byId.TryGetValue(stepId, out var step) ? step.Needs : []);
        while (pending.TryPop(out var id))
        {
            if (seen.Add(id) && byId.TryGetValue(id, out var s))
            {
                foreach (var need in s.Needs)
                {
                    pending.Push(need);
                }
            }
        }

        return seen;
    }

    /// <summary>Kahn's layering over indexes; needs that name no step are ignored. Null when there is a cycle.</summary>
    internal static List<List<int>>? LayerIndexes(IReadOnlyList<string> ids, IReadOnlyList<IReadOnlyList<string>> needs)
    {
        var (dependents, pendingNeeds) = Edges(ids, needs);
        var layers = new List<List<int>>();
        var current = Enumerable.Range(0, ids.Count).Where(i => pendingNeeds[i] == 0).ToList();
        var placed = 0;
        while (current.Count > 0)
        {
            layers.Add(current);
            placed += current.Count;
            var next = new List<int>();
            foreach (var i in current)
            {
                foreach (var d in dependents[i])
                {
                    if (--pendingNeeds[d] == 0)
                    {
                        next.Add(d);
                    }
                }
            }

            next.Sort();
            current = next;
        }

        return placed == ids.Count ? layers : null;
    }

    /// <summary>
    /// Cycles among the steps, each as the step indexes along it (a → b → … → back to a, the first not repeated). Every
    /// step on some cycle appears in at least one reported cycle; steps merely downstream of a cycle do not.
    /// </summary>
    internal static List<List<int>> FindCycles(IReadOnlyList<string> ids, IReadOnlyList<IReadOnlyList<string>> needs)
    {
        var n = ids.Count;
        var index = IndexOf(ids);
        var needIdx = new List<int>[n];
        for (var i = 0; i < n; i++)
        {
            needIdx[i] = [.. needs[i].Where(index.ContainsKey).Select(id => index[id]).Distinct()];
        }

        // Trim steps that cannot be on a cycle: those with no remaining needs, then those with no remaining dependents.
        var alive = Enumerable.Repeat(true, n).ToArray();
        Trim(needIdx, alive, forward: true);
        Trim(needIdx, alive, forward: false);

        var cycles = new List<List<int>>();
        var done = new bool[n];
        for (var s = 0; s < n; s++)
        {
            if (!alive[s] || done[s])
            {
                continue;
            }

            // Walk needs among live steps until a step repeats: every live step has a live need, so the walk closes.
            var walk = new List<int>();
            var at = new Dictionary<int, int>();
            var cur = s;
            while (!done[cur] && !at.ContainsKey(cur))
            {
                at[cur] = walk.Count;
                walk.Add(cur);
                cur = needIdx[cur].FirstOrDefault(j => alive[j], -1);
                if (cur < 0)
                {
                    break;
                }
            }

            if (cur >= 0 && at.TryGetValue(cur, out var from))
            {
                // The walk follows needs (a needs b), so the cycle reads backwards; report it in the order work flows.
                var cycle = walk.GetRange(from, walk.Count - from);
                cycle.Reverse();
                var first = cycle.IndexOf(cycle.Min());
                cycles.Add([.. cycle.Skip(first), .. cycle.Take(first)]);
            }

            foreach (var w in walk)
            {
                done[w] = true;
            }
        }

        return cycles;
    }

    private static void Trim(List<int>[] needIdx, bool[] alive, bool forward)
    {
        var n = needIdx.Length;
        var count = new int[n];
        var reverse = new List<int>[n];
        for (var i = 0; i < n; i++)
        {
            reverse[i] = [];
        }

        for (var i = 0; i < n; i++)
        {
            if (!alive[i])
            {
                continue;
            }

            foreach (var j in needIdx[i])
            {
                if (!alive[j])
                {
                    continue;
                }

                if (forward)
                {
                    count[i]++;
                    reverse[j].Add(i);
                }
                else
                {
                    count[j]++;
                    reverse[i].Add(j);
                }
            }
        }

        var queue = new Queue<int>(Enumerable.Range(0, n).Where(i => alive[i] && count[i] == 0));
        while (queue.TryDequeue(out var i))
        {
            alive[i] = false;
            foreach (var k in reverse[i])
            {
                if (alive[k] && --count[k] == 0)
                {
                    queue.Enqueue(k);
                }
            }
        }
    }

    /// <summary>
    /// For an acyclic graph: for each step, the set of steps upstream of it (as bits over step indexes). Null when the
    /// needs form a cycle.
    /// </summary>
    internal static ulong[][]? Ancestors(IReadOnlyList<string> ids, IReadOnlyList<IReadOnlyList<string>> needs)
    {
        var layers = LayerIndexes(ids, needs);
        if (layers is null)
        {
            return null;
        }

        var index = IndexOf(ids);
        var words = (ids.Count + 63) / 64;
        var ancestors = new ulong[ids.Count][];
        foreach (var i in layers.SelectMany(l => l))
        {
            var bits = new ulong[words];
            foreach (var need in needs[i])
            {
                if (index.TryGetValue(need, out var j))
                {
                    bits[j / 64] |= 1UL << (j % 64);
                    var theirs = ancestors[j];
                    for (var w = 0; w < words; w++)
                    {
                        bits[w] |= theirs[w];
                    }
                }
            }

            ancestors[i] = bits;
        }

        return ancestors;
    }

    private static (List<int>[] Dependents, int[] PendingNeeds) Edges(IReadOnlyList<string> ids, IReadOnlyList<IReadOnlyList<string>> needs)
    {
        var index = IndexOf(ids);
        var dependents = new List<int>[ids.Count];
        var pending = new int[ids.Count];
        for (var i = 0; i < ids.Count; i++)
        {
            dependents[i] = [];
        }

        for (var i = 0; i < ids.Count; i++)
        {
            foreach (var need in needs[i].Distinct())
            {
                if (index.TryGetValue(need, out var j))
                {
                    dependents[j].Add(i);
                    pending[i]++;
                }
            }
        }

        return (dependents, pending);
    }

    private static Dictionary<string, int> IndexOf(IReadOnlyList<string> ids)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < ids.Count; i++)
        {
            index.TryAdd(ids[i], i);
        }

        return index;
    }
}
