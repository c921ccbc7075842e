import { z } from 'zod'
import { filePath } from './fields.js'

/** `acme.route53`: DNS-01 through Route53 (AWS SDK v3); credentials from here or the SDK's default chain. */
export const route53 = z.strictObject({
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'an AWS region such as us-east-1').default('us-east-1'),
  hosted_zone_id: z.string().regex(/^(\/hostedzone\/)?[A-Z0-9]{1,32}$/, 'a hosted zone id such as Z0123456789ABCDEFGHIJ').optional(),
  access_key_id: z.string().regex(/^[A-Z0-9]{16,128}$/, 'an access key id such as AKIA…').optional(),
  secret_access_key_file: filePath.optional(),
  endpoint: z.url({ protocol: /^https?$/ }).optional()
}).superRefine((r, ctx) => {
  if ((r.access_key_id === undefined) !== (r.secret_access_key_file === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: [r.access_key_id === undefined ? 'access_key_id' : 'secret_access_key_file'],
      message: 'access_key_id and secret_access_key_file go together (neither: the AWS SDK\'s default credential chain)'
    })
  }
})
