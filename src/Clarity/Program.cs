using Clarity.Cli;

return await ClarityCli.RunAsync(args);
