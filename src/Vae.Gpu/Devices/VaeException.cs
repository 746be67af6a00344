using System.Text.RegularExpressions;

namespace Vae.Gpu.Devices;

/// <summary>
/// A user-facing error: what is wrong and what to do, in one line. A parameter is written in the message as a
/// token of its API name, <c>«BatchSize»</c>: <see cref="Exception.Message"/> names it as the library does
/// (<c>BatchSize</c>), and a front end renders its own name for it (<see cref="Render"/>; the CLI's <c>--batch</c>).
/// </summary>
public partial class VaeException : Exception
{
    public VaeException(string message) : base(Render(message, Same)) => Template = message;
    public VaeException(string message, Exception inner) : base(Render(message, Same), inner) => Template = message;

    /// <summary>The message with its parameter tokens (<c>«BatchSize»</c>) still in it.</summary>
    public string Template { get; }

    /// <summary>The message with each parameter named by <paramref name="name"/>, which maps an API name to a front end's.</summary>
    public string Render(Func<string, string> name) => Render(Template, name);

    /// <summary>The API names of the parameters a message names.</summary>
    public static IEnumerable<string> Parameters(string template) => Token().Matches(template).Select(m => m.Groups[1].Value);

    static string Same(string apiName) => apiName;

    /// <summary>Any library text with parameter tokens (an error's, a log line's) with each named by <paramref name="name"/>.</summary>
    public static string Render(string template, Func<string, string> name) => Token().Replace(template, m => name(m.Groups[1].Value));

    /// <summary>A log line as the library names its parameters (the tokens' API names).</summary>
    public static string Plain(string template) => Render(template, Same);

    [GeneratedRegex("«(\\w+)»")]
    private static partial Regex Token();
}
