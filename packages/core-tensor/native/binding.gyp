# The native CPU backend for TensorFlow.js: one Node-API addon, BLAS from the platform.
# Linux: OpenBLAS found with pkg-config (Debian libopenblas-dev). macOS: the Accelerate framework.
{
  'variables': {
    # build.mjs decides whether oneDNN is here (Debian libdnnl-dev) and says so.
    'onednn%': '<!(node -p "process.env.DIFFLAB_ONEDNN || \'0\'")',
  },
  'targets': [
    {
      'target_name': 'difflab_native',
      'sources': [
        'src/addon.cc',
        'src/gemm.cc',
        'src/elementwise.cc',
        'src/reduce.cc',
        'src/conv.cc',
        'src/fused.cc',
        'src/rope.cc',
        'src/attention.cc',
        'src/peak.cc',
        'src/parallel.cc',
        'src/heap.cc',
        'src/lapack.cc',
        'src/optimizer.cc',
        'src/onednn.cc',
      ],
      # build.mjs builds in a scratch copy of this directory and passes the header path along.
      'include_dirs': ["<!(node -p \"process.env.DIFFLAB_NAPI_INCLUDE || require('node-addon-api').include_dir\")"],
      'defines': ['NAPI_VERSION=8', 'NAPI_CPP_EXCEPTIONS'],
      'cflags!': ['-fno-exceptions'],
      'cflags_cc!': ['-fno-exceptions'],
      'cflags_cc': ['-std=c++17', '-O3', '-fexceptions', '-fno-math-errno', '-fno-trapping-math'],
      'conditions': [
        ['OS=="linux"', {
          'defines': ['DIFFLAB_OPENBLAS'],
          # The addon is built on the machine that runs it (tools/setup.sh), so tune for this CPU.
          'cflags_cc': ['-march=native', '<!@(pkg-config --cflags openblas)'],
          'libraries': ['<!@(pkg-config --libs openblas)', '-pthread'],
        }],
        # oneDNN (Debian libdnnl-dev) for bf16 products; without it the addon builds and bf16 refuses.
        ['OS=="linux" and onednn==1', {
          'defines': ['DIFFLAB_ONEDNN'],
          'libraries': ['-ldnnl'],
        }],
        ['OS=="mac"', {
          'defines': ['DIFFLAB_ACCELERATE', 'ACCELERATE_NEW_LAPACK'],
          'libraries': ['-framework Accelerate'],
          'xcode_settings': {
            'GCC_ENABLE_CPP_EXCEPTIONS': 'YES',
            'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
            'OTHER_CPLUSPLUSFLAGS': ['-O3'],
          },
        }],
      ],
    },
  ],
}
