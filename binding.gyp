{
  "targets": [
    {
      "target_name": "tsvmm_native",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/kvm/system.cc",
        "native/kvm/vm.cc",
        "native/kvm/vcpu.cc",
        "native/kvm/vcpu_state.cc",
        "native/kvm/memory.cc",
        "native/kvm/mapping.cc",
        "native/kvm/eventfd.cc",
        "native/kvm/fdwatch.cc",
        "native/kvm/snapshot.cc",
        "native/net/tap.cc",
        "native/net/frame_io.cc",
        "native/fs/names.cc",
        "native/fs/meta.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti"]
    }
  ]
}
