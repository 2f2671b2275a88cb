using Microsoft.Playwright;

namespace Clarity.BrowserTests.Infrastructure;

/// <summary>
/// The test run's one Playwright driver and one Chromium, shared by every fixture: launching them costs about as much
/// as a short test, and the suite has a fixture per test class and backend. Debian's Chromium at /usr/bin/chromium is
/// launched with the arguments DEPENDENCIES.md names; Playwright never downloads one. Both stop when the test
/// process exits (xunit 2 has no assembly fixture to dispose them earlier).
/// </summary>
public static class SharedBrowser
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private static readonly Lazy<Task<IBrowser>> s_browser = new(LaunchAsync);

    public static Task<IBrowser> GetAsync() => s_browser.Value;

    private static async Task<IBrowser> LaunchAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            throw new InvalidOperationException($"{ChromiumPath} is missing: install Debian's Chromium (apt-get install -y chromium); test.sh does this.");
        }

        var playwright = await Playwright.CreateAsync();
        // Stopping the driver closes the browsers it launched.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => playwright.Dispose();
        return await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
    }
}
