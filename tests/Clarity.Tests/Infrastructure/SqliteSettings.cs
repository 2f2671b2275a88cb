using System.Runtime.CompilerServices;
using Clarity.Storage;

namespace Clarity.Tests.Infrastructure;

/// <summary>SQLite's process-wide settings, applied as the test assembly loads.</summary>
internal static class SqliteSettings
{
    /// <summary>
    /// SQLite accepts its process-wide settings only before it initialises, and test collections run in parallel, some
    /// opening a <c>SqliteConnection</c> of their own. Applying the settings first makes every test run under the ones
    /// the server runs with, whichever test starts first.
    /// </summary>
#pragma warning disable CA2255 // a test assembly is the process's entry point here, not a library
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Apply() => SqliteEngine.Configure();
}
