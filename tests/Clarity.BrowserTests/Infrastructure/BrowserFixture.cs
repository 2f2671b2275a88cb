using System.Runtime.CompilerServices;
using Clarity.Tests.Infrastructure;
using Microsoft.Playwright;
using Xunit;

namespace Clarity.BrowserTests.Infrastructure;

/// <summary>
/// One real server (in process, on SQLite or PostgreSQL) per test class (an xunit class fixture). Like the
/// integration tests, each test class is abstract and inherited once per backend, with the fixture of that backend
/// (<see cref="SqliteBrowserFixture"/>, <see cref="PostgresBrowserFixture"/>, …). Every fixture uses the run's one
/// Chromium (<see cref="SharedBrowser"/>); each test opens its own browser context (cookies are not shared between
/// tests) with <see cref="NewPageAsync"/>, and the fixture closes its contexts when its class is done.
/// </summary>
public abstract class BrowserFixture(Backend backend) : IAsyncLifetime
{
    private readonly List<IBrowserContext> _contexts = [];

    public Backend Backend => backend;

    public DashboardHost Host { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    /// <summary>Settings for this fixture's server (a subclass may override).</summary>
    protected virtual IDictionary<string, string?>? Settings => null;

    public virtual async Task InitializeAsync()
    {
        // The whole suite runs beside the other test project (4,500 tests) on two cores, where a sign-in's password hash
        // or a page's first render can wait long for a core: wait generously, never sleep. These are bounds on waits
        // for something that must happen, never timing assertions.
        Assertions.SetDefaultExpectTimeout(30_000);
        Browser = await SharedBrowser.GetAsync();
        Host = await DashboardHost.StartAsync(backend, Settings);
    }

    /// <summary>A page in a fresh browser context (its own cookies), desktop-sized unless a viewport is given.</summary>
    public async Task<IPage> NewPageAsync(int width = 1280, int height = 860, bool touch = false)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = Host.BaseAddress.ToString(),
            ViewportSize = new ViewportSize { Width = width, Height = height },
            HasTouch = touch,
            IsMobile = touch,
            DeviceScaleFactor = 1,
            Locale = "en-GB",
            TimezoneId = "UTC",
        });
        context.SetDefaultTimeout(60_000);
        lock (_contexts)
        {
            _contexts.Add(context);
        }

        Screenshots.Register(context, backend);
        return await context.NewPageAsync();
    }

    /// <summary>Signs <paramref name="page"/> in through the sign-in form and waits for the org overview.</summary>
    public static async Task SignInAsync(IPage page, string email = DashboardHost.OwnerEmail, string password = DashboardHost.OwnerPassword)
    {
        await page.GotoAsync("/login");
        await page.GetByLabel("Email").FillAsync(email);
        await page.GetByLabel("Password").FillAsync(password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath.StartsWith("/o/", StringComparison.Ordinal));
    }

    public virtual async Task DisposeAsync()
    {
        // Closed before the server stops, so that no page of this class keeps reconnecting to it.
        IBrowserContext[] contexts;
        lock (_contexts)
        {
            contexts = [.. _contexts];
        }

        foreach (var context in contexts)
        {
            await context.CloseAsync();
        }

        if (Host is not null)
        {
            await Host.DisposeAsync();
        }
    }
}

/// <summary>A server with no user yet (first-run setup).</summary>
public sealed class SqliteBrowserFixture() : BrowserFixture(Backend.Sqlite);

/// <inheritdoc cref="SqliteBrowserFixture"/>
public sealed class PostgresBrowserFixture() : BrowserFixture(Backend.Postgres);

/// <summary>A fixture whose org "acme" is already set up, with an API key (role member) for agents.</summary>
public abstract class SetUpBrowserFixture(Backend backend) : BrowserFixture(backend)
{
    public string AgentKey { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        AgentKey = await Host.SetupWithKeyAsync();
    }
}

public sealed class SqliteSetUpBrowserFixture() : SetUpBrowserFixture(Backend.Sqlite);

public sealed class PostgresSetUpBrowserFixture() : SetUpBrowserFixture(Backend.Postgres);

/// <summary>
/// Saves screenshots as test artifacts: <c>&lt;test output&gt;/screenshots/&lt;backend&gt;/&lt;TestName&gt;-&lt;step&gt;.png</c>,
/// one folder per backend, since the same test runs on both (the backend is the one of the fixture that opened the page).
/// </summary>
public static class Screenshots
{
    private static readonly ConditionalWeakTable<IBrowserContext, string> s_folders = [];

    public static string Directory { get; } = System.IO.Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "screenshots")).FullName;

    /// <summary>Screenshots of pages in <paramref name="context"/> go to the folder of <paramref name="backend"/>.</summary>
    public static void Register(IBrowserContext context, Backend backend) =>
        s_folders.AddOrUpdate(context, System.IO.Directory.CreateDirectory(Path.Combine(Directory, backend.ToString().ToLowerInvariant())).FullName);

    /// <param name="fullPage">The whole page (default), or only the viewport (e.g. with a drawer open).</param>
    public static async Task<string> ShotAsync(this IPage page, string step, [CallerMemberName] string test = "", bool fullPage = true)
    {
        var folder = s_folders.TryGetValue(page.Context, out var registered) ? registered : Directory;
        var path = Path.Combine(folder, $"{test}-{step}.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = fullPage });
        return path;
    }
}
