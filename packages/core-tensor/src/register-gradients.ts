// tfjs-core's Node bundle ships no gradient functions (they exist only as extensionless ESM
// files that Node cannot load); the @tensorflow/tfjs bundle registers all of them (plus the
// chained tensor methods) into tfjs-core's global registry on import.
import '@tensorflow/tfjs';
