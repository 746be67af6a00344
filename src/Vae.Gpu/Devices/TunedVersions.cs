namespace Vae.Gpu.Devices;

/// <summary>
/// The versions <c>vae-gpu tune</c> measured fastest on one device for one run's calls: per family and call
/// (the call's text, e.g. <c>conv (128,16,28,28)*(32,16,3,3) pad 2 flipped +mask</c>) the version that runs it.
/// Calls it has no entry for (another batch size, the test pass) use the profile's defaults.
/// </summary>
public sealed record TunedVersions(DateTime Date, IReadOnlyDictionary<string, int> Choices)
{
    public static string Key(string family, object call) => $"{family} {call}";

    public int? Find(string family, object call) => Choices.TryGetValue(Key(family, call), out int v) ? v : null;
}
