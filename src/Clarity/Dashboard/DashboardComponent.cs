using Microsoft.AspNetCore.Components;

namespace Clarity.Dashboard;

/// <summary>
/// Base of the dashboard components that read data (the pages, through <see cref="DashboardPage"/>, and the main
/// layout). They load it in <see cref="LoadAsync"/>, which runs once, before the component's first render, so that
/// markup never sees data that has not arrived and a page renders the same whichever database answers.
/// </summary>
/// <remarks>
/// <see cref="ComponentBase"/> renders a component as soon as its <c>OnInitializedAsync</c> (or
/// <c>OnParametersSetAsync</c>) awaits something unfinished, and again once it completes. Static SSR sends only the
/// last render, but the first one still runs, with the fields the await has not filled yet: a child given null throws
/// and the page answers 500. Npgsql's calls really yield; SQLite's complete synchronously and hid this. Both hooks are
/// sealed here, so no dashboard component can load data in them.
/// </remarks>
public abstract class DashboardComponent : ComponentBase
{
    private bool _loaded;

    /// <summary>Loads what the component shows. Runs once, after the parameters are set and before the first render.</summary>
    protected virtual Task LoadAsync() => Task.CompletedTask;

    public override async Task SetParametersAsync(ParameterView parameters)
    {
        // A ParameterView is valid only until the first await.
        parameters.SetParameterProperties(this);
        if (!_loaded)
        {
            _loaded = true;
            await LoadAsync();
        }

        await base.SetParametersAsync(ParameterView.Empty);
    }

    /// <summary>Sealed: load in <see cref="LoadAsync"/> (see the remarks on the class).</summary>
    protected sealed override Task OnInitializedAsync() => base.OnInitializedAsync();

    /// <summary>Sealed: load in <see cref="LoadAsync"/> (see the remarks on the class).</summary>
    protected sealed override Task OnParametersSetAsync() => base.OnParametersSetAsync();
}
