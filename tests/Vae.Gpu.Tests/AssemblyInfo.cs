// One accelerator stream and its scratch buffers are shared by every test on that device.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
