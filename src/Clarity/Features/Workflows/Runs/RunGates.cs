namespace Clarity.Features.Workflows.Runs;

/// <summary>
/// One in-process gate per run, taken before the run row's lock on PostgreSQL and held until the change's transaction
/// ends (<see cref="Storage.Change.HoldUntilEnd"/>). Changes of one run on this node thus queue here, one at a time,
/// instead of in PostgreSQL: there, every waiter on a row lock sleeps on the holder's transaction, and all of them wake at
/// its commit to race for the row again (and re-read it), so eight agents finishing steps of one fan-out cost the machine
/// about twice the CPU per step that two do. The row lock stays the rule across nodes; the gate only orders this node's
/// own changes.
/// <para>
/// A wait gives up after <see cref="Patience"/> and goes on to the row lock without the gate: a change that holds one
/// run and waits for another (a child's end telling its parent, while the parent's cancel reaches for the child) must
/// meet the other side in PostgreSQL, which detects the deadlock and retries one of them, rather than wait here forever.
/// </para>
/// </summary>
internal sealed class RunGates
{
    /// <summary>How long a change waits for a run's gate before it takes the row lock without it (PostgreSQL's own deadlock_timeout).</summary>
    public static readonly TimeSpan DefaultPatience = TimeSpan.FromSeconds(1);

    private readonly Dictionary<Guid, Gate> _gates = [];

    public RunGates(TimeSpan? patience = null) => Patience = patience ?? DefaultPatience;

    public TimeSpan Patience { get; }

    /// <summary>Waits for the run's gate; null when <see cref="Patience"/> ran out first (go on without it).</summary>
    public async Task<IDisposable?> EnterAsync(Guid runId)
    {
        Gate gate;
        lock (_gates)
        {
            if (!_gates.TryGetValue(runId, out gate!))
            {
                _gates[runId] = gate = new Gate(this, runId);
            }

            gate.Users++;
        }

        var entered = false;
        try
        {
            entered = await gate.Semaphore.WaitAsync(Patience);
        }
        finally
        {
            if (!entered)
            {
                Leave(gate);
            }
        }

        return entered ? gate.Holder() : null;
    }

    /// <summary>How many runs have a gate in use (held or waited for); tests check that none is left behind.</summary>
    public int InUse
    {
        get
        {
            lock (_gates)
            {
                return _gates.Count;
            }
        }
    }

    private void Leave(Gate gate)
    {
        lock (_gates)
        {
            if (--gate.Users == 0)
            {
                _gates.Remove(gate.RunId);
            }
        }
    }

    private sealed class Gate(RunGates owner, Guid runId)
    {
        public Guid RunId { get; } = runId;

        public RunGates Owner { get; } = owner;

        public SemaphoreSlim Semaphore { get; } = new(1, 1);

        /// <summary>Holders and waiters; guarded by the owner's lock.</summary>
        public int Users { get; set; }

        public IDisposable Holder() => new Held(this);

        private sealed class Held(Gate gate) : IDisposable
        {
            private int _released;

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _released, 1) == 0)
                {
                    gate.Semaphore.Release();
                    gate.Owner.Leave(gate);
                }
            }
        }
    }
}
